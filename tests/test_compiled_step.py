"""The compiled-step engine's one private torch API fails loudly here if a torch release changes it."""

import torch

from iqlzoo.agents.compiled_step import compiled_graph_count, private_copy


class _Doubler:
    def double(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 + 1


def test_compiled_graph_count_sees_a_compiled_graph_and_none_before():
    own = private_copy(_Doubler().double)
    code = own.__func__.__code__
    assert code is not _Doubler.double.__code__  # a private code object: its own dynamo cache
    assert compiled_graph_count(code) == 0
    compiled = torch.compile(own, backend="eager")
    assert torch.equal(compiled(torch.ones(3)), torch.full((3,), 3.0))
    assert compiled_graph_count(code) >= 1
