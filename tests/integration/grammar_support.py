"""Running a GBNF grammar through llama.cpp's own sampler with a real vocabulary: what the
embedded model's tool-call grammars admit, token by token, as generation would see it."""

from __future__ import annotations

import ctypes
import math


def grammar_accepts(vocab_model: object, grammar: str, text: str) -> bool:
    """Feed `text` through llama.cpp's grammar sampler token by token, then end of turn."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(vocab_model.model)  # type: ignore[attr-defined]
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    assert sampler, "llama.cpp rejected the grammar"
    eos = vocab_model.token_eos()  # type: ignore[attr-defined]
    try:
        for token in [*vocab_model.tokenize(text.encode(), add_bos=False), eos]:  # type: ignore[attr-defined]
            cells = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
            candidates = llama_cpp.llama_token_data_array(
                ctypes.cast(cells, llama_cpp.llama_token_data_p), 1, -1, False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
            if math.isinf(cells[0].logit):
                return False
            if token != eos:
                llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)
