;; A module with an initialiser, for deploy-time snapshots
;; (tests/api/test_snapshot.c).  mem[0] counts initialiser runs, mem[4]
;; and $g hold the state it builds; `bump` writes, and the next instance
;; must not see the write.
(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "wizer.initialize")
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.store (i32.const 4) (i32.const 4242))
    (global.set $g (i32.const 7)))
  (func (export "init_runs") (result i32) (i32.load (i32.const 0)))
  (func (export "state") (result i32)
    (i32.add (i32.load (i32.const 4)) (global.get $g)))
  (func (export "bump") (result i32)
    (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
    (i32.add (i32.load (i32.const 4)) (global.get $g))))
