;; Gateway test guest: typed exports for the invoke routes.
;;   add (i32, i32) -> i32      add64 (i64, i64) -> i64     half (f64) -> f64
;;   div (i32, i32) -> i32      traps on a zero divisor
;;   none ()                    no results ("ok")
;;   spin ()                    never returns (deadline tests)
;;   count (i32) -> i32         loops n times, returns n (slow jobs)
;;   ref () -> funcref          a result JSON cannot carry
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64)
    (i64.add (local.get 0) (local.get 1)))
  (func (export "half") (param f64) (result f64)
    (f64.div (local.get 0) (f64.const 2)))
  (func (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func (export "none"))
  (func (export "spin")
    (loop $l (br $l)))
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i))
  (func (export "ref") (result funcref)
    (ref.null func)))
