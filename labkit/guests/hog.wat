;; A memory hog: asks for one more 64 KiB page until the host says no (memory.grow
;; returns -1), then returns how many pages it holds in all.
(module
  (memory 1)
  (func (export "grow") (result i32)
    (block $refused
      (loop $more
        (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
    (memory.size)))
