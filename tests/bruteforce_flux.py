"""Brute-force reference for the potential part of the energy flux, for any LAMMPS pair style
with per-atom energies (imported by the tests; independent of the plugin under test).

For site energies U_a (the ones ``compute pe/atom`` returns and sums to the potential energy)
the energy flux consistent with them has the potential part

    J_pot^alpha = sum_b W_b^{alpha beta} v_b^beta,
    W_b^{alpha beta} = sum_a (r_a - r_b)^alpha dU_a/dr_b^beta,

with r_a - r_b the minimum image. Here every dU_a/dr_b is a central difference of LAMMPS' own
per-atom energies: each atom b is displaced by +-h along each axis, ``run 0 post no``
re-evaluates every U_a, and the positions are restored exactly afterwards. The sign and units
are those of the virial part of ``compute onsager`` (elements 7-9, -S.v/nktv2p with S the
per-atom centroid stress times volume): for a pair potential U_a = 1/2 sum_j phi(r_aj) both give
W_b = -1/2 sum_a phi'(r_ab) d (x) d / r_ab with d = r_a - r_b.

Units: W in energy*distance, J_pot in energy*velocity (LAMMPS units of the instance).
Cost: 6 N + 1 evaluations of ``run 0`` (each a neighbour build plus one force call), so
O(N^2): 250 atoms take 2-3 s for lj/cut, ~7 s for eam/alloy, ~20 s for uf3 or eam/fs on one
free core.

The step h: central differences have a truncation error ~h^2 |U'''| / 6 and a round-off error
~eps |U| / h. Measured J_pot error against an exact flux (metal units, h in A):

    h          1e-3     1e-4     1e-5     1e-6     1e-7
    lj/cut     5e-1 *   1.8e-8   2.1e-10  1.4e-9   8.0e-9     (* unshifted: step at the cutoff)
    uf3        3.3e-6   3.5e-8   2.3e-8   2.1e-7   9.8e-7
    eam/alloy  fails ** 2.5e-8   7.5e-10  6.0e-9   1.2e-7     (** force self-check 2.4e-6)

so h = 1e-5 is the default. A step in a site energy at a sharp cutoff (tabulated eam files
end at non-zero values; an unshifted lj/cut) would be differentiated as ~step/h: give
``cutoff`` and the stencils that would cross it become one-sided. The achieved displacement
(x + h) - x is the denominator, so the rounding of the displaced coordinate does not enter.
"""
from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_H = 1e-5


def _box_matrix(lmp: Any) -> np.ndarray:
    """Rows are the box edge vectors a, b, c (LAMMPS' restricted triclinic form)."""
    boxlo, boxhi, xy, yz, xz, _periodicity, _ = lmp.extract_box()
    lx, ly, lz = (boxhi[k] - boxlo[k] for k in range(3))
    return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])


def minimum_image(d: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Minimum-image vectors for d[..., 3] in the periodic cell with edge rows ``box``."""
    frac = d @ np.linalg.inv(box)
    frac -= np.rint(frac)
    return frac @ box


def _widths(box: np.ndarray) -> np.ndarray:
    """Perpendicular widths of the cell: the largest sphere diameter it contains per axis."""
    vol = abs(np.linalg.det(box))
    a, b, c = box
    return vol / np.array(
        [np.linalg.norm(np.cross(b, c)), np.linalg.norm(np.cross(c, a)),
         np.linalg.norm(np.cross(a, b))]
    )


def _by_id(lmp: Any, natoms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Live views of x and image of the owned atoms, and the row of each ID 1..N in them.

    Re-read after every run: LAMMPS may reallocate or sort the per-atom arrays."""
    nlocal = lmp.extract_global("nlocal")
    assert nlocal == natoms, "the brute-force reference runs on one MPI rank"
    tag = np.array(lmp.numpy.extract_atom("id")[:nlocal])
    row = np.empty(natoms, dtype=int)
    row[tag - 1] = np.arange(nlocal)
    return lmp.numpy.extract_atom("x")[:nlocal], lmp.numpy.extract_atom("image")[:nlocal], row


def _site_energies(lmp: Any, cid: str, natoms: int) -> np.ndarray:
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR

    lmp.command("run 0 post no")
    _, _, row = _by_id(lmp, natoms)
    pe = lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:natoms]
    return np.array(pe)[row]


def _forces(lmp: Any, natoms: int) -> np.ndarray:
    _, _, row = _by_id(lmp, natoms)
    return np.array(lmp.numpy.extract_atom("f")[:natoms])[row]


def _crosses(d0: np.ndarray, step: np.ndarray, cutoff: float) -> bool:
    """True if some pair distance |d0 + step| is on the other side of the cutoff than |d0|."""
    r0 = np.linalg.norm(d0, axis=-1)
    r1 = np.linalg.norm(d0 + step, axis=-1)
    return bool(np.any((r0 < cutoff) != (r1 < cutoff)))


def site_energy_jacobian(
    lmp: Any, h: float = DEFAULT_H, pe_compute: str | None = None, cutoff: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D[b, beta, a] = dU_a / dr_b^beta by finite differences, the positions x[N, 3] and the
    forces f[N, 3] of the unperturbed state (LAMMPS' own, for the check sum_a D = -f).

    Central differences, except where the pair style's energy has a step at a sharp ``cutoff``
    (tabulated eam/* files end at a non-zero value, an unshifted lj/cut jumps): a displacement
    of b whose stencil moves some pair (b, k) across the cutoff would differentiate that step,
    so there the second-order one-sided stencil (0, t, 2t) on the side that does not cross is
    used instead. With ``cutoff=None`` the energy is assumed continuous.

    Atoms are ordered by ID (IDs must be 1..N; one MPI rank). The positions and image flags of
    the instance are the same after the call as before, bit for bit; velocities are untouched.
    """
    natoms = int(lmp.get_natoms())
    own_compute = pe_compute is None
    cid = "_bf_pe" if own_compute else pe_compute
    if own_compute:
        lmp.command(f"compute {cid} all pe/atom")
    x, img, row = _by_id(lmp, natoms)
    x_saved, img_saved = x[row].copy(), img[row].copy()
    box = _box_matrix(lmp)
    try:
        # one evaluation first: wraps atoms into the box so each displacement below is applied
        # to the positions the unperturbed energies belong to
        u0 = _site_energies(lmp, cid, natoms)
        f0 = _forces(lmp, natoms)
        x, _, row = _by_id(lmp, natoms)
        x0 = x[row].copy()

        def energies_at(b: int, beta: int, offset: float) -> tuple[np.ndarray, float]:
            x, _, row = _by_id(lmp, natoms)
            x[row[b]] = x0[b]
            x[row[b], beta] = x0[b, beta] + offset
            achieved = x[row[b], beta] - x0[b, beta]    # exact: the rounding of x0 + offset
            return _site_energies(lmp, cid, natoms), achieved

        jac = np.empty((natoms, 3, natoms))
        for b in range(natoms):
            d_b = minimum_image(np.delete(x0, b, axis=0) - x0[b], box) if cutoff else None
            for beta in range(3):
                e = np.zeros(3)
                e[beta] = h
                if cutoff is None or not (_crosses(d_b, e, cutoff) or _crosses(d_b, -e, cutoff)):
                    up, tp = energies_at(b, beta, h)
                    um, tm = energies_at(b, beta, -h)
                    jac[b, beta] = (up - um) / (tp - tm)
                    continue
                for sign in (1.0, -1.0):
                    # d_b holds x_k - x_b: moving b by +s is moving every k by -s
                    if not _crosses(d_b, -2.0 * sign * e, cutoff) and not _crosses(
                        d_b, -sign * e, cutoff
                    ):
                        break
                else:
                    raise AssertionError(
                        f"atom ID {b + 1}: both stencils along axis {beta} cross the cutoff; "
                        "use a smaller h"
                    )
                u1, t1 = energies_at(b, beta, sign * h)
                u2, t2 = energies_at(b, beta, 2.0 * sign * h)
                # derivative at 0 of the quadratic through (0, u0), (t1, u1), (t2, u2)
                jac[b, beta] = (
                    -(t1 + t2) / (t1 * t2) * u0
                    - t2 / (t1 * (t1 - t2)) * u1
                    - t1 / (t2 * (t2 - t1)) * u2
                )
            x, _, row = _by_id(lmp, natoms)
            x[row[b]] = x0[b]
    finally:
        x, img, row = _by_id(lmp, natoms)
        x[row] = x_saved
        img[row] = img_saved
        if own_compute:
            lmp.command(f"uncompute {cid}")
    return jac, x0, f0


def subset_potential_flux_reference(lmp: Any, ids: list[int], h: float = DEFAULT_H
                                    ) -> np.ndarray:
    """J_pot restricted to the moving atoms b in ``ids``: sum_{b in ids} W_b . v_b, with W_b as
    in ``potential_flux_reference`` (central differences of LAMMPS' pe/atom, minimum image,
    one rank), for the expensive styles: 6 len(ids) + 1 evaluations instead of 6 N + 1.
    Positions and image flags are restored exactly. Also asserted: every displaced atom moves
    some site energy (a NaN or a dead derivative is a broken reference, not a zero flux), and
    the cell is two interaction ranges wide.
    """
    natoms = int(lmp.get_natoms())
    cid = "_bf_sub_pe"
    lmp.command(f"compute {cid} all pe/atom")
    x, img, row = _by_id(lmp, natoms)
    x_saved, img_saved = x[row].copy(), img[row].copy()
    box = _box_matrix(lmp)
    jpot = np.zeros(3)
    reach = 0.0
    try:
        _site_energies(lmp, cid, natoms)        # wraps atoms into the box first
        x, _, row = _by_id(lmp, natoms)
        x0 = x[row].copy()
        v = np.empty((natoms, 3))
        v[np.array(lmp.numpy.extract_atom("id")[:natoms]) - 1] = lmp.numpy.extract_atom("v")[:natoms]
        for tag in ids:
            b = tag - 1
            d = minimum_image(x0 - x0[b], box)                   # r_a - r_b
            jac = np.empty((3, natoms))
            for beta in range(3):
                u, got = [], []
                for s in (1.0, -1.0):
                    x, _, row = _by_id(lmp, natoms)
                    x[row[b]] = x0[b]
                    x[row[b], beta] = x0[b, beta] + s * h
                    got.append(x[row[b], beta])
                    u.append(_site_energies(lmp, cid, natoms))
                jac[beta] = (u[0] - u[1]) / (got[0] - got[1])
            x, _, row = _by_id(lmp, natoms)
            x[row[b]] = x0[b]
            assert np.all(np.isfinite(jac)) and np.abs(jac).max() > 0.0, (
                f"atom {tag}: the site energies did not respond to its displacement")
            coupled = np.abs(jac).max(axis=0) > 1e-9 * np.abs(jac).max()
            reach = max(reach, float(np.linalg.norm(d[coupled], axis=1).max()))
            jpot += (d.T @ jac.T) @ v[b]                        # W_b^{alpha beta} v_b^beta
    finally:
        x, img, row = _by_id(lmp, natoms)
        x[row] = x_saved
        img[row] = img_saved
        lmp.command(f"uncompute {cid}")
    assert 2.0 * reach < _widths(box).min(), "cell too small for the minimum image"
    return jpot


def potential_flux_reference(
    lmp: Any,
    h: float = DEFAULT_H,
    pe_compute: str | None = None,
    cutoff: float | None = None,
    force_tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """W[N,3,3] ordered by atom ID and J_pot[3] = sum_i W_i . v_i.

    W_b^{alpha beta} = sum_a (r_a - r_b)^alpha dU_a/dr_b^beta (minimum image) with dU_a/dr_b
    from ``site_energy_jacobian``; energy*distance and energy*velocity in the instance's units.
    ``pe_compute``: ID of an existing ``compute pe/atom`` (default: a temporary one);
    ``cutoff``: the pair style's sharp cutoff if its energy steps there (see
    ``site_energy_jacobian``).

    Self-check: the site energies sum to the potential energy, so sum_a dU_a/dr_b must be
    LAMMPS' force -f_b; asserted to ``force_tol`` relative to the largest force. A step in
    some U_a (an unhandled cutoff) or a wrong h fails here rather than giving a wrong W.

    The minimum image is the right pair vector only when every site energy depends on atoms
    closer than half the cell width; this is asserted from the measured range of the
    derivatives (the cell must be at least two interaction ranges wide).
    """
    jac, x, f = site_energy_jacobian(lmp, h=h, pe_compute=pe_compute, cutoff=cutoff)
    ferr = np.abs(jac.sum(axis=2) + f).max() / np.abs(f).max()
    assert ferr <= force_tol, (
        f"sum_a dU_a/dr_b differs from -f_b by {ferr:.2e} of the largest force: the site "
        "energies are not differentiable at this h (a step at a cutoff? pass cutoff=)"
    )
    box = _box_matrix(lmp)
    d = minimum_image(x[None, :, :] - x[:, None, :], box)    # d[b, a] = r_a - r_b

    # range of the dependence: pairs whose derivative is above round-off
    mag = np.abs(jac).max(axis=1).T                        # mag[b, a]
    dist = np.linalg.norm(d, axis=-1)
    coupled = mag > 1e-9 * mag.max()
    reach = dist[coupled].max()
    width = _widths(box).min()
    assert 2.0 * reach < width, (
        f"site energies depend on atoms {reach:.3f} away but the cell is only {width:.3f} wide: "
        "the minimum image is ambiguous; replicate the cell to at least two interaction ranges"
    )

    w = np.einsum("bax,bya->bxy", d, jac)
    natoms = x.shape[0]
    nlocal = lmp.extract_global("nlocal")
    tag = np.array(lmp.numpy.extract_atom("id")[:nlocal])
    v = np.empty((natoms, 3))
    v[tag - 1] = lmp.numpy.extract_atom("v")[:nlocal]
    jpot = np.einsum("bxy,by->x", w, v)
    return w, jpot
