"""Key/value cache utilities for transformers' ``DynamicCache``: in-place growth during decoding,
copying a cache's head, and the current name of the cache argument."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch

# Decoding appends one position per step: into spare room for this many positions at a time.
GROWTH_ROOM = 64


class _Growth:
    """Makes one plain ``DynamicLayer`` append new positions into spare room of a larger buffer
    (the layer's keys and values are views of it) instead of concatenating: a decode step then
    copies one position per row instead of the whole cache. Same values, same shapes."""

    def __init__(self, layer: Any, room: int) -> None:
        self.layer = layer
        self.room = room
        self.keys = self.values = layer.keys
        self.length = 0
        self.view: Any = None
        self._reserve(room)
        layer.update = self.update  # this instance only; DynamicLayer itself is untouched

    def _reserve(self, room: int) -> None:
        keys, values = self.layer.keys, self.layer.values
        b, h, n, _ = keys.shape
        self.keys = keys.new_empty((b, h, n + room, keys.shape[-1]))
        self.values = values.new_empty((b, values.shape[1], n + room, values.shape[-1]))
        self.keys[:, :, :n].copy_(keys)
        self.values[:, :, :n].copy_(values)
        self.length = n
        self._publish()

    def _publish(self) -> None:
        self.layer.keys = self.keys[:, :, : self.length]
        self.layer.values = self.values[:, :, : self.length]
        self.view = self.layer.keys

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        new = key_states.shape[-2]
        if self.layer.keys is not self.view:  # replaced, e.g. by batch_select_indices
            self._reserve(max(self.room, new))
        elif self.length + new > self.keys.shape[2]:
            self._reserve(max(self.room, new))
        self.keys[:, :, self.length : self.length + new].copy_(key_states)
        self.values[:, :, self.length : self.length + new].copy_(value_states)
        self.length += new
        self._publish()
        return self.layer.keys, self.layer.values


def _plain_dynamic_layers(cache: Any) -> list[Any] | None:
    """The layers of a plain ``DynamicCache`` (keys/values tensors of shape [batch, heads,
    positions, dim]), or None for any other kind of cache."""
    layers = getattr(cache, "layers", None)
    if type(cache).__name__ != "DynamicCache" or not layers:
        return None
    for layer in layers:
        keys = getattr(layer, "keys", None)
        if type(layer).__name__ != "DynamicLayer" or not isinstance(keys, torch.Tensor):
            return None
        if keys.dim() != 4:
            return None
    return list(layers)


def _cache_head(cache: Any, length: int) -> Any:
    """A new cache holding (copies of) the first ``length`` positions of a plain
    ``DynamicCache``, or None for other caches."""
    layers = _plain_dynamic_layers(cache)
    if layers is None or layers[0].keys.shape[2] < length:
        return None
    head = copy.copy(cache)
    head.layers = [copy.copy(layer) for layer in layers]
    for layer in head.layers:
        layer.keys = layer.keys[:, :, :length].clone()
        layer.values = layer.values[:, :, :length].clone()
    return head


def grow_in_place(cache: Any, room: int) -> bool:
    """Let every layer of a plain ``DynamicCache`` grow into spare room (see ``_Growth``);
    other caches (sliding windows, quantised, older transformers) are left as they are."""
    layers = _plain_dynamic_layers(cache)
    if layers is None:
        return False
    for layer in layers:
        _Growth(layer, room)
    return True


def cache_keyword(model: Any) -> str:
    """The name under which ``model.forward`` takes a key/value cache: ``cache`` on current
    transformers (``past_key_values`` is deprecated there), ``past_key_values`` on older ones."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


def returned_cache(out: Any) -> Any:
    """The key/value cache a forward pass returned, under either name."""
    if "cache" in out:
        return out["cache"]
    return out.get("past_key_values")
