;; A live instance for density measurements: the standard workload plus one page (64 KiB)
;; of linear memory. Its start function writes to the page, so the instance really has a
;; private resident page (a data segment alone would stay shared with the module's image).
(module
  (memory 1)
  (func $touch
    (i64.store (i32.const 0) (i64.const 0x6c6f6f6b696e67)))
  (start $touch)
  (func (export "fib") (param $n i64) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $a)))
