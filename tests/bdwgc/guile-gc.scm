;;; Guile on the bdwgc ABI: heavy allocation, weak hash tables, guardians,
;;; finalization of ports, threads.  Prints only facts that hold on any
;;; correct conservative collector, so the output of a run on Debian's
;;; libgc1 and on cogc's libgc.so.1 must be identical.
(use-modules (ice-9 format) (ice-9 threads) (srfi srfi-1))

(define (make-tree d)
  (if (= d 0) '() (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (tree-size t)
  (if (null? t) 1 (+ 1 (tree-size (car t)) (tree-size (cdr t)))))

;; 1. heavy allocation: trees built and dropped, strings, vectors
(let loop ((i 0) (acc 0))
  (if (< i 30)
      (loop (+ i 1) (+ acc (tree-size (make-tree 14))))
      (format #t "trees: ~a nodes~%" acc)))
(define long-lived (make-tree 16))
(let loop ((i 0) (acc 0))
  (if (< i 20000)
      (loop (+ i 1) (+ acc (string-length (make-string (+ 10 (modulo i 300)) #\x))
                       (vector-length (make-vector (modulo i 50) i))))
      (format #t "strings+vectors: ~a~%" acc)))
(format #t "long-lived tree intact: ~a~%" (= (tree-size long-lived) (- (expt 2 17) 1)))

;; 2. weak-key hash table: entries whose keys die go away, kept keys stay
(define wk (make-weak-key-hash-table))
(define kept-keys '())
(do ((i 0 (+ i 1))) ((= i 20000))
  (let ((k (list 'key i)))
    (hashq-set! wk k i)
    (when (zero? (modulo i 10)) (set! kept-keys (cons k kept-keys)))))
(gc) (gc) (gc)
(let ((n (hash-fold (lambda (k v acc) (+ acc 1)) 0 wk)))
  (format #t "weak-key table: kept keys all present: ~a; dead entries mostly gone: ~a~%"
          (every (lambda (k) (eqv? (hashq-ref wk k) (cadr k))) kept-keys)
          (< n 10000)))

;; 3. weak-value hash table
(define wv (make-weak-value-hash-table))
(define kept-vals '())
(do ((i 0 (+ i 1))) ((= i 20000))
  (let ((v (make-vector 3 i)))
    (hashv-set! wv i v)
    (when (zero? (modulo i 10)) (set! kept-vals (cons v kept-vals)))))
(gc) (gc) (gc)
(let ((n (hash-fold (lambda (k v acc) (+ acc 1)) 0 wv)))
  (format #t "weak-value table: kept values all present: ~a; dead entries mostly gone: ~a~%"
          (every (lambda (v) (eq? (hashv-ref wv (vector-ref v 0)) v)) kept-vals)
          (< n 10000)))

;; 4. guardians: dropped objects come back, each once, intact
(define g (make-guardian))
(do ((i 0 (+ i 1))) ((= i 5000)) (g (list 'guarded i (make-string 20 #\g))))
(define kept-guarded (let ((x (list 'guarded 'kept))) (g x) x))
(gc) (gc) (gc)
(let loop ((n 0) (ok #t) (seen '()))
  (let ((x (g)))
    (if x
        (loop (+ n 1) (and ok (eq? (car x) 'guarded) (not (eq? x kept-guarded))) (cons x seen))
        (format #t "guardian: returned most: ~a, all intact and dead: ~a, none twice: ~a~%"
                (> n 4000) ok
                (= (length seen) (length (delete-duplicates seen eq?)))))))

;; 5. finalization: file ports dropped unclosed are closed by finalizers
(define (open-fds) (length (scandir "/proc/self/fd")))
(use-modules (ice-9 ftw))
(define before (open-fds))
(define ports (map (lambda (i) (open-input-file "/dev/null")) (iota 500)))
(define during (open-fds))
(set! ports #f)
(let loop ((i 0))
  (gc)
  (usleep 20000)              ; finalizers run on Guile's finalizer thread
  (when (and (< i 200) (> (open-fds) (+ before 50))) (loop (+ i 1))))
(format #t "ports: opened 500 (~a fds held), finalized back to near the start: ~a~%"
        (>= (- during before) 500) (<= (open-fds) (+ before 50)))

;; 6. threads allocating in parallel
(define results
  (par-map (lambda (n) (tree-size (make-tree n))) '(12 13 14 15 12 13 14 15)))
(format #t "threads: ~a~%" results)
(format #t "long-lived tree still intact: ~a~%" (= (tree-size long-lived) (- (expt 2 17) 1)))
