;; The example module for `make run` and the CLI tests.
;;   add (i32, i32) -> i32     wrapping addition
;;   fac (i64) -> i64          n! by recursion (wraps past 20!)
;;   div (i32, i32) -> i32     signed division; traps on a zero divisor
(module
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (i32.add (local.get $a) (local.get $b)))

  (func $fac (export "fac") (param $n i64) (result i64)
    (if (result i64) (i64.le_s (local.get $n) (i64.const 1))
      (then (i64.const 1))
      (else (i64.mul (local.get $n)
                     (call $fac (i64.sub (local.get $n) (i64.const 1)))))))

  (func (export "div") (param $a i32) (param $b i32) (result i32)
    (i32.div_s (local.get $a) (local.get $b))))
