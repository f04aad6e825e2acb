(module
  (func (export "sum_to") (param $n i64) (result i64)
    (local $total i64)
    (block $done
      (loop $again
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $total (i64.add (local.get $total) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $again)))
    (local.get $total)))
