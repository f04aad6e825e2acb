;; A runaway guest: a loop that never ends. Only the host's CPU cap can stop it.
(module
  (func (export "spin")
    (loop $forever
      (br $forever))))
