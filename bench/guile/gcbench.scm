;;; GCBench (after Boehm's and Ellis' Java GCBench): trees built top-down
;;; and bottom-up beside a long-lived tree and a large array of flonums.
;;; Usage: guile gcbench.scm [long-lived-depth]
(use-modules (srfi srfi-9))
(define-record-type <node> (make-node left right i j) node?
  (left node-left set-node-left!) (right node-right set-node-right!)
  (i node-i) (j node-j))

(define k-stretch-depth 18)
(define k-array-size 500000)
(define k-min-depth 4)

(define (tree-size i) (- (expt 2 (+ i 1)) 1))
(define (num-iters i max-depth) (quotient (* 2 (tree-size k-stretch-depth)) (tree-size i)))

(define (populate! depth node)
  (when (> depth 0)
    (set-node-left! node (make-node #f #f 0 0))
    (set-node-right! node (make-node #f #f 0 0))
    (populate! (- depth 1) (node-left node))
    (populate! (- depth 1) (node-right node))))

(define (make-tree depth)
  (if (<= depth 0)
      (make-node #f #f 0 0)
      (make-node (make-tree (- depth 1)) (make-tree (- depth 1)) 0 0)))

(define (time-construction depth)
  (let ((n (num-iters depth k-stretch-depth)))
    (do ((i 0 (+ i 1))) ((= i n))
      (populate! depth (make-node #f #f 0 0)))
    (do ((i 0 (+ i 1))) ((= i n))
      (make-tree depth))
    (format #t "depth ~a: ~a trees top-down and bottom-up~%" depth n)))

(define (main long-lived-depth)
  (make-tree k-stretch-depth)
  (let ((long-lived (make-node #f #f 0 0))
        (array (make-vector k-array-size 0.0)))
    (populate! long-lived-depth long-lived)
    (do ((i 0 (+ i 1))) ((= i (quotient k-array-size 2)))
      (vector-set! array i (/ 1.0 (+ i 1))))
    (do ((d k-min-depth (+ d 2))) ((> d long-lived-depth))
      (time-construction d))
    (format #t "long-lived tree and array alive: ~a ~a~%"
            (node? (node-left long-lived)) (vector-ref array 1000))))

(main (let ((args (cdr (command-line))))
        (if (null? args) 16 (string->number (car args)))))
