"""Kernels that run a recurrent layer, and the one place that chooses among them.

- ``reference``: a Python loop over ``rnnkit.nn.functional``'s steps; serves everything.
- ``native``: torch's fused op; serves torch.nn's exact configurations only.

``impl="auto"`` takes the native kernel when it serves the configuration and the call
(no gate trace asked for), else the reference loop.
"""

from __future__ import annotations

from rnnkit.nn.config import LayerConfig


def native_refusal(config: LayerConfig, return_gates: bool) -> str | None:
    """Why the native kernel cannot serve this call, or ``None`` when it can."""
    cell = config.cell
    if return_gates:
        return "return_gates=True needs the per-step gates, which torch's fused op does not expose"
    if not cell.is_torch_standard:
        return (
            "the configuration is not torch.nn's (non-default activations, layer_norm, "
            "input_dropout, recurrent_dropout, zoneout or reset_after=False)"
        )
    return None


def choose_impl(config: LayerConfig, impl: str, return_gates: bool) -> str:
    """The kernel to run: ``"native"`` or ``"reference"``.

    A forced ``impl="native"`` that cannot serve the call raises ``ValueError`` naming the fix.
    """
    refusal = native_refusal(config, return_gates)
    if impl == "auto":
        return "reference" if refusal else "native"
    if impl == "native" and refusal:
        raise ValueError(
            f"{config.cell.owner}: impl='native' cannot serve this call: {refusal}; "
            "pass impl='auto' (or impl='reference')"
        )
    return impl
