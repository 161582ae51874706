"""The train/validation split every Seer reader carves from a training pool (docs/PROTOCOL.md "Artifacts").

Positions 0..<pool_count are shuffled with xoshiro256** seeded by SplitMix64, Fisher-Yates from the top
(j = next() % (i + 1)); the last `validation_count` positions are validation, the rest train, each sorted ascending.
The Swift side's `Dataset.split` is the same algorithm.
"""

MASK64 = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class SeededGenerator:
    """xoshiro256** seeded by SplitMix64."""

    def __init__(self, seed):
        z = seed & MASK64
        self.s = []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & MASK64
            x = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(x ^ (x >> 31))

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        self.s = [s0, s1, s2, _rotl(s3, 45)]
        return result


def split(pool_count, validation_count, seed=0):
    """(train positions, validation positions), each ascending."""
    order = list(range(pool_count))
    rng = SeededGenerator(seed)
    for i in range(pool_count - 1, 0, -1):
        j = rng.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    cut = pool_count - validation_count
    return sorted(order[:cut]), sorted(order[cut:])
