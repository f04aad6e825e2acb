;; A guest that tries to read a host file (/etc/passwd) and to accept a network
;; connection. WASI grants files only through pre-opened directories (file descriptors
;; 3 and up) and sockets only when the host hands one over; labkit grants neither.
;; The exit code is the errno of path_open (8 = EBADF: there is no such directory).
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/etc/passwd")
  (func (export "_start")
    (local $errno i32)
    ;; path_open(dirfd 3, follow symlinks, path, len, no oflags, rights: read, 0, 0, &fd)
    (local.set $errno
      (call $path_open (i32.const 3) (i32.const 1) (i32.const 16) (i32.const 11)
                       (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
    ;; opened a file? exit 0 (the test fails)
    (if (i32.eqz (local.get $errno)) (then (call $proc_exit (i32.const 0))))
    ;; accept on fd 3: succeeds only if the host pre-opened a socket
    (if (i32.eqz (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 32)))
      (then (call $proc_exit (i32.const 0))))
    (call $proc_exit (local.get $errno))))
