"""Seeded test corpus for the tokenizer comparisons (shared by the pytest files)."""
import random

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]

HANDPICKED = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n\n", " \n \t ", "\r\n", "a\r\nb", "Hello world",
    "Hello, world!", "hello   ", "hello\n", "  leading", "trailing\t\t", "x  \n  y",
    "it's", "they're", "we've", "I'm", "you'll", "he'd", "IT'S", "don't", "'s'll'd",
    "1234567890", "3.14159", "1,000,000", "-42", "1e-9", "0.000001", "99999999999999999999",
    "v1.2.3", "2024-01-31T12:00:00Z", "$19.99", "٣٤٥", "²³", "Ⅻ",
    "你好，世界", "こんにちは世界", "안녕하세요", "中文字符测试：汉字。",
    "café naïve résumé", "e\u0301", "n\u0303o", "Ω≈ç√∫", "ǅungla",
    "مرحبا بالعالم", "שלום עולם", "Привет, мир!", "Γειά σου Κόσμε",
    "😀", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "👍🏽", "a😀b", "🇺🇸🇯🇵",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { a[i] += 1; }",
    "<div class=\"x\">&amp;</div>", "SELECT * FROM t WHERE id = 1;", "#!/bin/bash\necho $HOME",
    "<|im_start|>user\nhi<|im_end|>\n", "a<|endoftext|>b", "<|im_start|><|im_end|>",
    "<|im_start", "<|im_end|", "text <|im_end|> more", "<|im_start|>  spaced  <|im_end|>",
    "\u00a0nbsp\u00a0", "zzqx", " zzqx", "zzqxzzqx", "(zzqx)", "zero\u200bwidth", "tab\tsep\tvalues", "ALLCAPS WORDS HERE",
]

WORDS = ("the of and to in is was for that with as on by at from it an be this are or "
         "which not have has but were can their they all one its more also other been "
         "would about new some these when there into time only first years may such "
         "Tokenizer Hearth GGUF serving engine llama batch kernel PagedAttention").split()
PUNCT = list(".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|")
CODE = ["def ", "return ", "if (", ") {", "}\n", "    ", "==", "!=", "->", "::", "++", "/*", "*/",
        "#include <vector>", "std::string", "0x1F", "self.", "import numpy as np"]
EMOJI = ["😀", "😂", "🚀", "❤️", "👍🏽", "👨\u200d💻", "👩\u200d👩\u200d👦", "🏳️\u200d🌈", "🇩🇪",
         "🤖", "✨", "🍕"]
WHITESPACE = [" ", "  ", "\t", "\n", "\n\n", "\r\n", " \n", "\t ", "   \n\t"]
CONTRACTIONS = ["'s", "'re", "'ve", "'m", "'ll", "'d", "'t", "'S", "'RE"]


def _random_chars(rng, lo, hi, n):
    return "".join(chr(rng.randint(lo, hi)) for _ in range(n))


def _fragment(rng):
    kind = rng.randrange(14)
    if kind <= 2:
        return rng.choice(WORDS) if rng.random() < 0.5 else " " + rng.choice(WORDS)
    if kind == 3:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
        return digits if rng.random() < 0.6 else digits + "." + str(rng.randint(0, 99999))
    if kind == 4:
        return rng.choice(WHITESPACE)
    if kind == 5:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 3)))
    if kind == 6:
        return rng.choice(CODE)
    if kind == 7:
        return rng.choice(EMOJI)
    if kind == 8:
        block = rng.choice([(0x4E00, 0x9FFF), (0x3041, 0x3096), (0xAC00, 0xD7A3), (0x0600, 0x064A),
                            (0x05D0, 0x05EA), (0x0410, 0x044F), (0x0391, 0x03C9), (0x00C0, 0x00FF)])
        return _random_chars(rng, block[0], block[1], rng.randint(1, 6))
    if kind == 9:  # letters with combining marks
        return "".join(rng.choice("aeiouAEIOU") + chr(rng.randint(0x0300, 0x036F))
                       for _ in range(rng.randint(1, 3)))
    if kind == 10:
        return rng.choice(CONTRACTIONS)
    if kind == 11:
        return rng.choice(SPECIALS)
    if kind == 12:
        return rng.choice(WORDS).upper()
    return rng.choice(HANDPICKED)


def corpus(n_random=1100, seed=1234):
    rng = random.Random(seed)
    out = list(HANDPICKED)
    for _ in range(n_random):
        out.append("".join(_fragment(rng) for _ in range(rng.randint(1, 12))))
    return out
