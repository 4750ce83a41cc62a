"""scikit-learn's linear SVMs solved in torch, so that the SVM can run on the GPU.

Two models, both one-vs-rest with y_ik = +1 for class k and -1 for the rest:

- :class:`TorchLinearSVC` is ``LinearSVC(C=C)``: squared hinge, with the intercept penalised as
  liblinear does (a constant feature ``intercept_scaling`` whose weight is regularised). Without that
  penalty the optimum moves and test AUC shifts by up to a few hundredths; with it, the two solvers agree
  to about 1e-5 AUC.
- :class:`TorchSVC` is ``OneVsRestClassifier(SVC(kernel="linear", C=C))``: hinge loss, unpenalised
  intercept, solved exactly in the dual (the hinge is not differentiable, and a smoothed hinge under
  L-BFGS converges too slowly to match libsvm). Its memory grows as n^2 in the training samples: it checks
  that it fits before it allocates anything and raises :class:`SVMMemoryError` otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.engine.staging import cuda_free_bytes

# n x n float64 matrices TorchSVC holds at its peak: the Gram matrix, Q, and while a Newton system is factored,
# the scaled system and its Cholesky factor (measured on the CPU: peak RSS grows by 4.0 n^2 x 8 bytes)
_MATRICES_AT_PEAK = 4
# room beyond the estimate for the solver's vectors, the factorisation's workspace and allocator fragmentation
_HEADROOM = 1.2


class SVMMemoryError(MemoryError):
    """TorchSVC would need more memory than its device has free; raised before anything is allocated."""

    def __init__(self, samples: int, needed: int, free: int, device: torch.device):
        super().__init__(
            f"the torch SVM (SVC, solved on {device}) needs about {needed / 2**30:.1f} GiB for {samples:,} "
            f"training samples (its memory grows as the square of the samples), but {free / 2**30:.1f} GiB is "
            f"free: use --svm sklearn (scikit-learn's SVC, on the CPU)"
        )
        self.samples, self.needed, self.free = samples, needed, free


def svc_peak_bytes(samples: int, features: int) -> int:
    """The memory TorchSVC needs for ``samples`` x ``features`` training data, with headroom, in bytes."""
    return int(_HEADROOM * 8 * (_MATRICES_AT_PEAK * samples * samples + samples * features))


def _free_bytes(device: torch.device) -> int | None:
    """Bytes a new allocation on ``device`` can use, or None where unknown: on CUDA the driver's free memory
    plus what torch's caching allocator holds unused, on the CPU ``MemAvailable`` of /proc/meminfo."""
    if device.type == "cuda":
        return cuda_free_bytes(device)
    if device.type == "cpu":
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            return None
        for line in meminfo.splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _lbfgs(parameter: torch.Tensor, objective, max_iter: int, tol: float) -> None:
    """Minimise ``objective()`` over ``parameter`` in place."""
    optimizer = torch.optim.LBFGS(
        [parameter], lr=1.0, max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-15,
        history_size=30, line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimizer.step(closure)


class _OneVsRest:
    """Labels to ±1 targets per problem and scores back; one problem for two classes (positive: the second
    class), one per class otherwise. Subclasses set ``coef_`` (K, D) and ``intercept_`` (K,) in ``_solve``."""

    def __init__(self, C: float, device: torch.device | str):
        self.C, self.device = C, torch.device(device)

    def _tensor(self, values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values), device=self.device, dtype=torch.float64)

    def fit(self, features, labels):
        labels = np.asarray(labels)
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"the SVM needs at least two classes in training, got {self.classes_.tolist()}")
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        targets = np.where(labels[:, None] == positives[None, :], 1.0, -1.0)
        self._solve(self._tensor(features), self._tensor(targets))
        return self

    def _solve(self, x: torch.Tensor, y: torch.Tensor) -> None:
        raise NotImplementedError

    def decision_function(self, features) -> np.ndarray:
        """(n,) scores for two classes (positive means ``classes_[1]``), (n, K) otherwise."""
        scores = (self._tensor(features) @ self.coef_.T + self.intercept_).cpu().numpy()
        return scores[:, 0] if len(self.classes_) == 2 else scores


class TorchLinearSVC(_OneVsRest):
    """L2-regularised squared-hinge linear SVM, the model of ``LinearSVC(C=C)``; per problem k:

        min 0.5 * (||w_k||^2 + b_k^2) + C * sum_i max(0, 1 - y_ik * (w_k . x_i + s * b_k))^2

    All problems are solved jointly (they are independent, so the joint optimum is each one's optimum) in
    float64 on ``device``.
    """

    def __init__(self, C: float = 1.0, intercept_scaling: float = 1.0, device: torch.device | str = "cpu",
                 max_iter: int = 500, tol: float = 1e-6):
        super().__init__(C, device)
        self.intercept_scaling, self.max_iter, self.tol = intercept_scaling, max_iter, tol

    def _solve(self, x: torch.Tensor, y: torch.Tensor) -> None:
        n = len(x)
        x = torch.cat([x, x.new_full((n, 1), self.intercept_scaling)], dim=1)
        weights = x.new_zeros(x.shape[1], y.shape[1], requires_grad=True)

        def objective():
            # divided by C * n, which leaves the optimum where it is and the tolerances scale-free
            slack = (1 - y * (x @ weights)).clamp(min=0)
            return 0.5 * weights.square().sum() / (self.C * n) + slack.square().sum() / n

        _lbfgs(weights, objective, self.max_iter, self.tol)
        self.coef_ = weights.detach()[:-1].T
        self.intercept_ = weights.detach()[-1] * self.intercept_scaling


class TorchSVC(_OneVsRest):
    """L2-regularised hinge-loss linear SVM with a free intercept, the model of ``SVC(kernel="linear", C=C)``
    fitted one-vs-rest; per problem k its dual

        min 0.5 * a' Q a - sum(a)   subject to   0 <= a <= C,  y' a = 0,   Q_ij = y_i y_j x_i . x_j

    is solved by a primal-dual interior-point method (Mehrotra's predictor-corrector) on the dense n x n
    matrix Q, in float64 on ``device``. Then ``w = sum_i a_i y_i x_i`` and the intercept is the multiplier
    of ``y' a = 0``. Each problem stops when the mean complementarity and the residuals fall below ``tol``
    (relative to C and to 1), or after ``max_iter`` iterations; ``iterations_`` is the most any problem took.

    Memory: four n x n float64 matrices at the peak, 32 n^2 bytes (2.6 GB at n = 9,000, 51 GB at
    n = 40,000); see :func:`svc_peak_bytes`. ``fit`` first compares that, with headroom, to the device's free
    memory (CUDA: free plus cached by torch; CPU: ``MemAvailable``, unchecked where unreadable) and raises
    :class:`SVMMemoryError` before allocating anything when it does not fit. The check is made once, at the
    start: memory taken meanwhile by other work on the device is not accounted for.
    """

    def __init__(self, C: float = 1.0, device: torch.device | str = "cpu", max_iter: int = 100, tol: float = 1e-9):
        super().__init__(C, device)
        self.max_iter, self.tol = max_iter, tol

    def fit(self, features, labels):
        features = np.asarray(features)
        self._check_memory(*features.shape)
        return super().fit(features, labels)

    def _check_memory(self, samples: int, dimensions: int) -> None:
        """Raise :class:`SVMMemoryError` when the solver would not fit in the device's free memory."""
        needed, free = svc_peak_bytes(samples, dimensions), _free_bytes(self.device)
        if free is not None and needed > free:
            raise SVMMemoryError(samples, needed, free, self.device)

    def _solve(self, x: torch.Tensor, y: torch.Tensor) -> None:
        gram = x @ x.T
        self.iterations_ = 0
        coefs, intercepts = [], []
        for k in range(y.shape[1]):
            a, b = self._dual(gram, y[:, k])
            coefs.append((a * y[:, k]) @ x)
            intercepts.append(b)
        self.coef_, self.intercept_ = torch.stack(coefs), torch.stack(intercepts)

    def _dual(self, gram: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The optimal dual variables ``a`` and the intercept of one problem with ±1 targets ``y``."""
        C, n = self.C, len(y)
        q = gram * y[:, None]
        q *= y[None, :]
        # u = C - a is a variable of its own: recomputed, it rounds to 0 as a nears C
        a, u = torch.full_like(y, C / 2), torch.full_like(y, C / 2)
        s, t = torch.ones_like(y), torch.ones_like(y)  # multipliers of a >= 0 and a <= C
        b = y.new_zeros(())  # multiplier of y' a = 0
        for iteration in range(1, self.max_iter + 1):
            r_dual = q @ a - 1 + y * b - s + t
            r_primal = y @ a
            mu = (a @ s + u @ t) / (2 * n)
            self.iterations_ = max(self.iterations_, iteration)
            if max(float(mu) / C, float(r_dual.abs().max()), abs(float(r_primal)) / C) < self.tol:
                break
            a, u, b, s, t = _predictor_corrector(q, y, (a, u, b, s, t), r_dual, r_primal, mu)
        return a, b


def _predictor_corrector(q: torch.Tensor, y: torch.Tensor, iterate, r_dual, r_primal, mu) -> tuple[torch.Tensor, ...]:
    """The next interior-point iterate ``(a, u, b, s, t)`` by one Mehrotra predictor-corrector step.

    A function of its own so that the step's Cholesky factor is freed before the next one is made."""
    a, u, b, s, t = iterate
    n = len(y)
    state = (_Cholesky(q, s / a + t / u), y, a, u, s, t, r_dual, r_primal)
    da, _, ds, dt = _newton_step(state, -a * s, -u * t)
    size = _step_size((a, u, s, t), (da, -da, ds, dt))
    mu_affine = ((a + size * da) @ (s + size * ds) + (u - size * da) @ (t + size * dt)) / (2 * n)
    target = (mu_affine / mu) ** 3 * mu
    da, db, ds, dt = _newton_step(state, target - a * s - da * ds, target - u * t + da * dt)
    size = _step_size((a, u, s, t), (da, -da, ds, dt))
    return a + size * da, u - size * da, b + size * db, s + size * ds, t + size * dt


def _newton_step(state, target_a: torch.Tensor, target_u: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The interior-point Newton step (da, db, ds, dt) towards complementarity a*s = target_a, u*t = target_u."""
    system, y, a, u, s, t, r_dual, r_primal = state
    solved = system.solve(torch.stack([-r_dual + target_a / a - target_u / u, y], dim=1))
    step_b = (y @ solved[:, 0] + r_primal) / (y @ solved[:, 1])
    step_a = solved[:, 0] - solved[:, 1] * step_b
    return step_a, step_b, (target_a - s * step_a) / a, (target_u + t * step_a) / u


class _Cholesky:
    """Solves ``(Q + diag(d)) v = r`` by Cholesky after scaling the matrix to a unit diagonal: interior-point
    systems mix entries many orders of magnitude apart, and unscaled factorisation fails on rounding.
    A diagonal jitter grows from 1e-14 where it still fails. Holds one n x n matrix (the factor), and two
    while it is made."""

    def __init__(self, q: torch.Tensor, diagonal: torch.Tensor):
        self.scale = (q.diagonal() + diagonal).rsqrt()
        scaled = q * self.scale[:, None]
        scaled *= self.scale[None, :]  # in place: no third n x n temporary
        scaled.diagonal().fill_(1.0)
        factor, info = torch.linalg.cholesky_ex(scaled)
        jitter = 1e-14
        while int(info) > 0:
            if jitter > 1e-6:
                raise FloatingPointError("the SVM's interior-point system is singular; check the features for NaN")
            del factor  # before the retry makes another as big
            scaled.diagonal().fill_(1.0 + jitter)
            factor, info = torch.linalg.cholesky_ex(scaled)
            jitter *= 10
        self.factor = factor

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """``v`` for each column of ``rhs`` (n, m)."""
        return self.scale[:, None] * torch.cholesky_solve(self.scale[:, None] * rhs, self.factor)


def _step_size(values, steps, fraction: float = 0.995) -> torch.Tensor:
    """The longest step (at most 1) along ``steps`` that keeps every one of ``values`` positive, shortened by
    ``fraction`` so that the iterate stays inside."""
    longest = torch.ones((), dtype=values[0].dtype, device=values[0].device)
    for value, step in zip(values, steps, strict=True):
        shrinking = step < 0
        if bool(shrinking.any()):
            longest = torch.minimum(longest, (-value[shrinking] / step[shrinking]).min())
    return (fraction * longest).clamp(max=1.0)
