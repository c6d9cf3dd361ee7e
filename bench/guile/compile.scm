;;; A real GC-heavy program: Guile's compiler compiling one of its own
;;; modules (default ice-9/pretty-print.scm) to a temporary file.
;;; Usage: guile compile.scm [file.scm]
(use-modules (system base compile))
(let* ((args (cdr (command-line)))
       (src (if (and (pair? args) (string-suffix? ".scm" (car args)))
                (car args)
                (%search-load-path "ice-9/pretty-print.scm")))
       (out (string-append (or (getenv "TMPDIR") "/tmp") "/cogc-bench-compile-"
                           (number->string (getpid)) ".go")))
  (compile-file src #:output-file out)
  (format #t "compiled ~a: ~a bytes~%" (basename src) (stat:size (stat out)))
  (delete-file out))
