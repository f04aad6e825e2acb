;; A WASI program: writes one line to stdout through the only door the host opened,
;; fd_write on file descriptor 1.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; an iovec at 0: (pointer to the text, its length); the text itself at 16
  (data (i32.const 0) "\10\00\00\00\1e\00\00\00")
  (data (i32.const 16) "hello from inside the isolate\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
