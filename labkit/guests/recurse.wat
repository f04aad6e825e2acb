;; Deep recursion: a function that calls itself forever, until the stack runs out.
(module
  (func $down (export "down") (param $depth i64) (result i64)
    (call $down (i64.add (local.get $depth) (i64.const 1)))))
