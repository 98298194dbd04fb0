"""Sampler configurations the reference's bit-for-bit tests run over (test_tape_pack,
test_interpreter): typical graphs, big ones, tiny ones, mostly constants, and deep chains."""

from gradoracle.fuzz.sampler import SamplerConfig

CONFIGS = {
    "default": SamplerConfig(),
    "big": SamplerConfig(min_ops=40, max_ops=90, max_inputs=8),
    "tiny": SamplerConfig(min_ops=0, max_ops=3, min_inputs=1, max_inputs=2),
    "constants": SamplerConfig(const=0.9, same_operand=0.5),
    "deep": SamplerConfig(deep=0.3),
}
