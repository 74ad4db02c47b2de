"""Bounds on a symmetric H's smallest |eigenvalue|, and the eigenvalues' signs, from an LDL^T.

A compiled loop (LLVM through llvmlite, built once per process, n and dtype) factors each listed
member of a NumPy stack H (B, n, n), read through its strides where it lies (the kernel's packed
output needs no copy), :data:`LANES` members per vector: straight-line code, the same
instructions on every lane. It reads H's lower triangle, as ``eigvalsh`` does. At step k it
swaps index k with the remaining index p whose |a_pp| is largest (the first such; lane by lane,
by selects): a symmetric permutation, exact, so P H P^T has H's eigenvalues and the steps below
are the unpivoted ones on P H P^T. Then d_k = a_kk, l_ik = fl(a_ik / d_k) and
a_ij -= fl(l_ik * a_jk) for i >= j > k (no fused multiply-add, no fast-math). The claim, per member:

1. *The computed factors are exact for a nearby matrix.* With c_jk = a_jk before its division
   (so c_jk = d_k l_jk / (1 + delta), |delta| <= u), each entry i >= j of M = L D L^T
   (L and D the *computed* factors, exact real matrices) differs from H's by
   |E_ij| <= gamma_j (|c_ij| + sum_k |l_ik c_jk|) + u sum_k |l_ik d_k l_jk| + u |d_j l_ij|
   (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Lemma 8.4 for the
   updates, in any order), so |E| <= gamma_{n+4} G with G = |L| |D| |L|^T, gamma_m = m u / (1 - m u).
   G = B B^T with B = |L| |D|^(1/2), so ||E||_2 <= gamma_{n+4} ||G||_2 <= gamma_{n+4} ||B||_F^2 and
   ||B||_F^2 = F = sum_k |d_k| (1 + sum_{i>k} l_ik^2), a sum of non-negative terms.
   e = 2 (n + 4) eps F + UNDER (F + n^2) bounds ||E||_2: the factor 2 covers gamma's denominator
   and F's own rounding (eps is the machine epsilon, twice the unit roundoff u), UNDER the
   absolute error of products and quotients that underflow (at most half the smallest subnormal
   each, n per entry).
2. *M's inertia is the signs of d* (Sylvester's law of inertia: L is unit lower triangular).
3. *M's smallest |eigenvalue| is at least min |d_k| / ||L^-1||_2^2*, as
   M^-1 = L^-T D^-1 L^-1 and ||L^-1||_2^2 <= ||L^-1||_1 ||L^-1||_inf. For a triangular L,
   |L^-1| <= C^-1 entrywise, C the comparison matrix (unit diagonal, -|l_ij| below it; Higham
   Theorem 8.12), and C^-1 >= 0, so ||L^-1||_inf <= max_i x_i with C x = 1
   (x_i = 1 + sum_{j<i} |l_ij| x_j) and ||L^-1||_1 <= max_j y_j with C^T y = 1
   (y_j = 1 + sum_{i>j} |l_ij| y_i): sums of non-negative terms, whose computed values are within
   a factor 1 + 2 n^2 eps of the exact ones. So min |lambda(M)| >= fl(min |d| / (X Y)) (1 - 8 n^2 eps).
   A second bound, 20-50 times tighter on the dense bench loss: Z = L^-1 computed by forward
   substitution (L z_j = e_j) has L Z = I + R with |R| <= gamma_n |L| |Z| (Higham Theorem 8.5),
   so ||R||_2 <= gamma_n ||L||_F ||Z||_F <= r, and where r < 1, L^-1 = Z (I + R)^-1 gives
   ||L^-1||_2 <= ||Z||_F / (1 - r) and min |lambda(M)| >= min |d| (1 - r)^2 / ||Z||_F^2. Here
   r = 2 n eps sqrt(||L||_F^2 ||Z||_F^2 (1 + 4 n^2 eps)^2) + n^2 UNDER (gamma_n, the sums of
   squares' rounding, products that underflow), ||Z||_F^2 is taken (1 + 4 n^2 eps) times its
   computed value, and the quotient's few roundings cost at most a factor 1 - 8 eps. The larger
   of the two bounds is kept (the first still holds where r >= 1).
4. *Weyl*: each sorted eigenvalue of P H P^T (so of H) is within ||E||_2 <= e of M's. Hence
   lower = (the larger of the two bounds of 3) - e <= min |lambda(H)| (up to the rounding of
   that last subtraction, a relative eps / 2, far inside the caller's margin; a NaN or inf in
   d or L makes e NaN or inf, so lower is never a number that passes), and where
   lower > 0 H's eigenvalues have d's signs: all positive, all negative, or both.
   max |lambda(H)| <= ||H||_F, and :func:`upper_bound` = sqrt(fl(||H||_F^2)) (1 + 2 n^2 eps) covers
   the rounding of the sum of squares and the square root.

Pivoting on the largest remaining diagonal entry keeps L's entries moderate on most indefinite
members (unpivoted, L grew on a fifth of the dense 10-D bench loss's members, whose bounds then
settled nothing). A zero or tiny pivot (a matrix whose remaining diagonal is all small, as
[[0, 1], [1, 0]]), growth in L, or a NaN or inf anywhere makes lower small, -inf or NaN, never
a certificate; the caller then asks ``eigvalsh``. Every lane runs the same instructions, so a
member's bounds are the same bits alone and in any batch, at any place in it. The argument
needs n (n + 4) eps < 1/100 (n <= :data:`LARGEST`: far inside it in float32 too).

>>> import numpy as np
>>> H = np.array([[[4.0, 1.0, 0.0], [1.0, -3.0, 1.0], [0.0, 1.0, 2.0]]])
>>> lower, sign = ldl_bounds(H, "float64", np.array([0]))
>>> bool(0 < lower[0] <= np.abs(np.linalg.eigvalsh(H[0])).min()), sign.tolist()
(True, [0.0])
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy

from taylorlr.numerics._jit import CountedLoop, Loop, addressable, build

#: machine epsilon per dtype (twice the unit roundoff)
EPS = {"float64": 2.0**-52, "float32": 2.0**-23}
#: a bound on the absolute error of one product or quotient that underflows, per dtype
UNDER = {"float64": 2.0**-1070, "float32": 2.0**-145}
#: members per vector of the compiled loop (each operation works on this many at once)
LANES = 4
#: the sizes n that this certificate serves: for n < 3 the closed forms are exact, and the
#: straight-line loop's build grows as n^3 (0.09 s at n = 3 to 6, 0.4 s at 10, 0.65 s at 12,
#: 1.7 s at 16)
SMALLEST, LARGEST = 3, 12


def available(H: Any, dtype: str) -> bool:
    """Whether :func:`ldl_bounds` serves H (a NumPy array (..., n, n) of ``dtype``): n within
    [SMALLEST, LARGEST], float64 or float32, aligned, its strides non-negative multiples of the item
    size (:func:`~taylorlr.numerics._jit.addressable`), and LLVM here to build the loop."""
    n = H.shape[-1]
    if not SMALLEST <= n <= LARGEST or str(H.dtype) != dtype or dtype not in EPS or not addressable(H):
        return False
    return _loop(n, dtype) is not None


def ldl_bounds(H: Any, dtype: str, members: Any) -> tuple[Any, Any]:
    """(lower, sign) for the listed members of H (B, n, n), a NumPy array of ``dtype``: lower <=
    min |lambda|, and where lower > 0 the eigenvalues' signs, sign 1 (all positive), -1 (all
    negative) or 0 (both). ``members``: int64 indices into H's first axis. H must be
    :func:`available`."""
    loop = _loop(H.shape[-1], dtype)
    members = numpy.asarray(members, dtype=numpy.int64)
    count = len(members)
    if loop is None or H.ndim != 3 or not available(H, dtype):
        raise ValueError(
            f"ldl_bounds takes a stack (B, n, n) that available() serves, not {H.shape} {H.dtype}"
        )
    if count and not 0 <= int(members.min()) <= int(members.max()) < H.shape[0]:
        raise IndexError(f"ldl_bounds: member indices outside [0, {H.shape[0]})")
    padded = numpy.empty(-(-count // LANES) * LANES, dtype=numpy.int64)  # the last index repeated
    padded[:count] = members
    padded[count:] = members[-1] if count else 0
    lower, sign = numpy.empty(padded.size, dtype=H.dtype), numpy.empty(padded.size, dtype=H.dtype)
    if count:
        strides = [stride // H.itemsize for stride in H.strides]
        loop.function(
            H.ctypes.data,
            *strides,
            padded.ctypes.data,
            lower.ctypes.data,
            sign.ctypes.data,
            padded.size // LANES,
        )
    return lower[:count], sign[:count]


def upper_bound(frobenius2: Any, n: int, dtype: str) -> Any:
    """An upper bound on max |lambda| from ||H||_F^2 computed in floating point (module docs, 4)."""
    with numpy.errstate(all="ignore"):
        return numpy.sqrt(frobenius2) * (1 + 2 * n * n * EPS[dtype])


@functools.cache
def _loop(n: int, dtype: str) -> Loop | None:
    """The compiled loop for n x n members of ``dtype`` (built once per process), or None. LLVM's
    O3 pipeline: the pivoting's selects run faster."""
    address = ctypes.c_void_p
    prototype = ctypes.CFUNCTYPE(
        None, address, *[ctypes.c_int64] * 3, address, address, address, ctypes.c_int64
    )
    return build(_ir(n, dtype), "ldl", prototype, optimise=True)


def _ir(n: int, dtype: str) -> str:
    """LLVM IR of ``ldl(H, member stride, row stride, column stride, members, lower, sign, vectors)``
    (strides in entries): a loop over vectors of LANES listed members, each pass straight-line
    code (see the module docs for what it computes); ``lower`` and ``sign`` follow ``members``."""
    import llvmlite.ir as ir

    real = ir.DoubleType() if dtype == "float64" else ir.FloatType()
    vector, index = ir.VectorType(real, LANES), ir.IntType(64)
    module = ir.Module(name="taylorlr_ldl")
    signature = ir.FunctionType(
        ir.VoidType(),
        [
            real.as_pointer(),
            index,
            index,
            index,
            index.as_pointer(),
            real.as_pointer(),
            real.as_pointer(),
            index,
        ],
    )
    function = ir.Function(module, signature, "ldl")
    H, member_stride, row_stride, column_stride, members, lower_out, sign_out, count = function.args
    for pointer in (H, members, lower_out, sign_out):
        pointer.add_attribute("noalias")
    loop = CountedLoop(function, count)
    builder = loop.builder
    group = loop.start()
    first = builder.mul(group, index(LANES))
    bases = [
        builder.mul(builder.load(builder.gep(members, [builder.add(first, index(t))])), member_stride)
        for t in range(LANES)
    ]
    rows = [builder.mul(index(i), row_stride) for i in range(n)]
    columns = [builder.mul(index(j), column_stride) for j in range(n)]

    def load(i: int, j: int) -> Any:
        value = ir.Constant(vector, ir.Undefined)
        offset = builder.add(rows[i], columns[j])
        for t in range(LANES):
            scalar = builder.load(builder.gep(H, [builder.add(bases[t], offset)]))
            value = builder.insert_element(value, scalar, index(t))
        return value

    out = _Arithmetic(builder, vector, module, n, dtype)
    lower, sign = out.certificate({(i, j): load(i, j) for i in range(n) for j in range(i + 1)})
    for pointer, value in ((lower_out, lower), (sign_out, sign)):
        address = builder.bitcast(builder.gep(pointer, [first]), vector.as_pointer())
        builder.store(value, address, align=4)
    loop.close()
    return str(module)


def entry_old(old: dict[tuple[int, int], Any], i: int, j: int) -> Any:
    """Entry (i, j) of a symmetric matrix kept as its lower triangle."""
    return old[max(i, j), min(i, j)]


class _Arithmetic:
    """The certificate's arithmetic on vectors: the factorisation, the bounds, the signs."""

    def __init__(self, builder: Any, vector: Any, module: Any, n: int, dtype: str) -> None:
        self.b, self.vector, self.n, self.dtype = builder, vector, n, dtype
        import llvmlite.ir as ir

        suffix = f"v{LANES}f{64 if dtype == 'float64' else 32}"
        self.fabs = ir.Function(module, ir.FunctionType(vector, [vector]), f"llvm.fabs.{suffix}")
        self.sqrt = ir.Function(module, ir.FunctionType(vector, [vector]), f"llvm.sqrt.{suffix}")

    def constant(self, value: float) -> Any:
        import llvmlite.ir as ir

        return ir.Constant(self.vector, [ir.Constant(self.vector.element, value)] * LANES)

    def certificate(self, a: dict[tuple[int, int], Any]) -> tuple[Any, Any]:
        b, n = self.b, self.n
        ell: dict[tuple[int, int], Any] = {}
        for k in range(n - 1):  # a_ij -= l_ik c_jk, c_jk = a_jk before the division
            self.pivot(a, ell, k)
            for i in range(k + 1, n):
                ell[i, k] = b.fdiv(a[i, k], a[k, k])
            for j in range(k + 1, n):
                for i in range(j, n):
                    a[i, j] = b.fsub(a[i, j], b.fmul(ell[i, k], a[j, k]))
        d = [a[k, k] for k in range(n)]
        magnitude = [b.call(self.fabs, [v]) for v in d]
        absolute = {key: b.call(self.fabs, [v]) for key, v in ell.items()}
        one = self.constant(1.0)
        smallest, spread = magnitude[0], magnitude[n - 1]
        for k in range(n - 1):
            smallest = self.least(smallest, magnitude[k + 1])
            squares = b.fmul(ell[k + 1, k], ell[k + 1, k])
            for i in range(k + 2, n):
                squares = b.fadd(squares, b.fmul(ell[i, k], ell[i, k]))
            spread = b.fadd(spread, b.fmul(magnitude[k], b.fadd(one, squares)))
        x = [one]  # x_i = 1 + sum_{j<i} |l_ij| x_j
        for i in range(1, n):
            total = one
            for j in range(i):
                total = b.fadd(total, b.fmul(absolute[i, j], x[j]))
            x.append(total)
        y: list[Any] = [one] * n  # y_j = 1 + sum_{i>j} |l_ij| y_i
        for j in range(n - 2, -1, -1):
            total = one
            for i in range(j + 1, n):
                total = b.fadd(total, b.fmul(absolute[i, j], y[i]))
            y[j] = total
        x_max, y_max = x[0], y[0]
        for i in range(1, n):
            x_max, y_max = self.most(x_max, x[i]), self.most(y_max, y[i])
        eps = EPS[self.dtype]
        bound = b.fmul(b.fdiv(smallest, b.fmul(x_max, y_max)), self.constant(1 - 8 * n * n * eps))
        bound = self.most(bound, self.through_inverse(ell, smallest))
        error = b.fadd(
            b.fmul(self.constant(2 * (n + 4) * eps), spread),
            b.fmul(self.constant(UNDER[self.dtype]), b.fadd(spread, self.constant(n * n))),
        )
        positive, negative = self.compare(">", d), self.compare("<", d)
        sign = b.select(positive, one, b.select(negative, self.constant(-1.0), self.constant(0.0)))
        return b.fsub(bound, error), sign

    def through_inverse(self, ell: dict[tuple[int, int], Any], smallest: Any) -> Any:
        """min |d| (1 - r)^2 / ||Z||_F^2, a lower bound on min |lambda(L D L^T)| from Z, L^-1 computed
        by forward substitution, where r < 1 (else 0): see the module docs, 3."""
        b, n, eps = self.b, self.n, EPS[self.dtype]
        z: dict[tuple[int, int], Any] = {}
        inverse2 = self.constant(float(n))  # ||Z||_F^2, the unit diagonal first
        factor2 = self.constant(float(n))  # ||L||_F^2
        for j in range(n):  # L z = e_j: z_ij = -(l_ij + sum_{j<k<i} l_ik z_kj)
            for i in range(j + 1, n):
                total = ell[i, j]
                for k in range(j + 1, i):
                    total = b.fadd(total, b.fmul(ell[i, k], z[k, j]))
                z[i, j] = b.fsub(self.constant(0.0), total)
                inverse2 = b.fadd(inverse2, b.fmul(total, total))
                factor2 = b.fadd(factor2, b.fmul(ell[i, j], ell[i, j]))
        grow = self.constant(1 + 4 * n * n * eps)
        product = b.fmul(b.fmul(inverse2, factor2), b.fmul(grow, grow))
        r = b.fadd(
            b.fmul(self.constant(2 * n * eps), b.call(self.sqrt, [product])),
            self.constant(n * n * UNDER[self.dtype]),
        )
        slack = b.fsub(self.constant(1.0), r)
        bound = b.fdiv(b.fmul(smallest, b.fmul(slack, slack)), b.fmul(inverse2, grow))
        bound = b.fmul(bound, self.constant(1 - 8 * eps))
        return b.select(b.fcmp_ordered("<", r, self.constant(1.0)), bound, self.constant(0.0))

    def pivot(self, a: dict[tuple[int, int], Any], ell: dict[tuple[int, int], Any], k: int) -> None:
        """Swap index k with the first p >= k whose |a_pp| is largest, lane by lane (selects):
        rows and columns k and p of the active part, and rows k and p of L's first k columns."""
        b, n = self.b, self.n
        if k == n - 1:
            return
        best = b.call(self.fabs, [a[k, k]])
        taken = {}
        for p in range(k + 1, n):
            size = b.call(self.fabs, [a[p, p]])
            taken[p] = b.fcmp_ordered(">", size, best)
            best = b.select(taken[p], size, best)
        chosen, later = {}, None
        for p in range(n - 1, k, -1):  # the last p that beat every earlier one
            chosen[p] = taken[p] if later is None else b.and_(taken[p], b.not_(later))
            later = taken[p] if later is None else b.or_(later, taken[p])

        old = dict(a)
        old_ell = dict(ell)
        for p in range(k + 1, n):
            mask = chosen[p]
            a[p, p] = b.select(mask, old[k, k], old[p, p])
            for i in range(k + 1, n):
                if i != p:  # (i, p) <- (i, k), (i, k) <- (i, p)
                    key = max(i, p), min(i, p)
                    a[key] = b.select(mask, old[i, k], a[key])
            for j in range(k):
                ell[p, j] = b.select(mask, old_ell[k, j], old_ell[p, j])
        kk, column, row = old[k, k], {}, {}
        for i in range(k + 1, n):
            column[i] = old[i, k]
        for j in range(k):
            row[j] = old_ell[k, j]
        for p in range(k + 1, n):
            mask = chosen[p]
            kk = b.select(mask, old[p, p], kk)
            for i in range(k + 1, n):
                if i != p:
                    column[i] = b.select(mask, entry_old(old, i, p), column[i])
            for j in range(k):
                row[j] = b.select(mask, old_ell[p, j], row[j])
        a[k, k] = kk
        for i in range(k + 1, n):
            a[i, k] = column[i]
        for j in range(k):
            ell[k, j] = row[j]

    def least(self, p: Any, q: Any) -> Any:
        return self.b.select(self.b.fcmp_ordered("<", p, q), p, q)

    def most(self, p: Any, q: Any) -> Any:
        return self.b.select(self.b.fcmp_ordered(">", p, q), p, q)

    def compare(self, operator: str, d: list[Any]) -> Any:
        zero = self.constant(0.0)
        every = self.b.fcmp_ordered(operator, d[0], zero)
        for value in d[1:]:
            every = self.b.and_(every, self.b.fcmp_ordered(operator, value, zero))
        return every
