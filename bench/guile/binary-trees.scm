;;; binary-trees (after the Computer Language Benchmarks Game): a
;;; stretch tree, a long-lived tree, and many short-lived trees of every
;;; even depth.  Usage: guile binary-trees.scm [max-depth]
(define (make-tree d)
  (if (= d 0)
      (cons #f #f)
      (cons (make-tree (- d 1)) (make-tree (- d 1)))))

(define (check t)
  (if (car t) (+ 1 (check (car t)) (check (cdr t))) 1))

(define (main max-depth)
  (let* ((min-depth 4)
         (max-depth (max (+ min-depth 2) max-depth)))
    (let ((stretch (+ max-depth 1)))
      (format #t "stretch tree of depth ~a\t check: ~a~%" stretch (check (make-tree stretch))))
    (let ((long-lived (make-tree max-depth)))
      (do ((d min-depth (+ d 2))) ((> d max-depth))
        (let ((iterations (expt 2 (+ (- max-depth d) min-depth))))
          (let loop ((i 0) (sum 0))
            (if (< i iterations)
                (loop (+ i 1) (+ sum (check (make-tree d))))
                (format #t "~a\t trees of depth ~a\t check: ~a~%" iterations d sum)))))
      (format #t "long lived tree of depth ~a\t check: ~a~%" max-depth (check long-lived)))))

(main (let ((args (cdr (command-line))))
        (if (null? args) 16 (string->number (car args)))))
