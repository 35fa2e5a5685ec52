"""Generating one invocation (a `Case`) from a subcommand's definition: valid, boundary and
invalid values for each option, paths of every kind, depth from options that belong together.
Case `i` of seed `s` depends on (s, i) only."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

from .common import CORPUS, TRAINED
from .results import Case
from .spec import Command, Opt


SURR = os.fsdecode(b"\xff\xfe")            # '\udcff\udcfe': what argv gives for non-UTF-8 bytes
UNICODE = ["tïnyshakespeare", "模型", "\U0001F642", "\u202etxt", "tiny\u200bshakespeare",
           "e\u0301", "Ω≈ç√", "\u00a0", "ﬁ"]


INT_EDGE = [0, 1, -1, 2, -2, 256, 257, 1000, 1001, 10**6, 10**7, 10**7 + 1, 2**32 - 1, 2**32,
            10**9, 10**30, -10**30, 2**31, 2**63, -2**63, "abc", "1e3", "9" * 40,
            "9" * 5000, "", " 5", "0x10", "1_000", "\u0663", "5.0", "+3", "--1"]
FLOAT_EDGE = ["0", "-0.0", "inf", "-inf", "nan", "-nan", "1e308", "1e309", "-1e308", "5e-324",
              "1e-320", "1e-300", "x", "", "-1", "0x1p3", "1_0.5", "Infinity", "1e3", "2**3"]
TEXT_EDGE = ["", " ", "~", "~~~~", "~~~~~~~~~~", "\n", "\t", "a\nb", "\\", "'", '"', "{}",
             "#", "- x", "key: value", "&a", "!tag", "%s", "{0}", "x" * 300, SURR,
             "the" + SURR, "é", "\x7f", "\x1b[31m", "\r", *UNICODE]
REV_EDGE = ["HEAD", "HEAD~1", "HEAD~99999", "", "nonexistent", "--output=fz-git.txt", "-p",
            "HEAD:metrics", "..", "a" * 300, SURR, "HEAD^{tree}", "@{-1}", "main"]
ENCODINGS = ["utf-8", "latin-1", "utf-16", "UTF8", "ascii", "utf-8-sig", "cp1252", "", "nope",
             "rot13", "base64", "hex", "zlib", "idna", "punycode", "unicode_escape", "utf-32",
             "mbcs", "uu", "x" * 300, SURR]
# generator hints for depth (applied to 90% of the cases): options that mostly come together,
# and pairs that are mostly not given together; an option not defined is ignored
TOGETHER = [{"corpus", "model"}]
IMPLIES = {"add_k": ("smoothing", "add_k")}   # --add-k mostly with --smoothing add_k
USUALLY = {"corpus", "model"}             # optional options included in 85% of the cases
APART = [("prime", "prime_file"), ("checkpoint", "corpus"), ("checkpoint", "model")]
MEMBERS = ["*.txt", "*.tex", "text.txt", "", "*", "**", "[", "../x", "/etc/passwd", "a" * 300,
           SURR, "missing.txt"]


class Generator:
    """The case generator (a part of `Fuzzer`: it needs `seed`, `commands`, `work`, `repo`,
    `inputs` and `text`)."""

    # ----------------------------------------------------------------- value pools
    def _rel(self, p: Path) -> str:
        return os.path.relpath(p, self.repo)

    def _generic_paths(self, rng: random.Random) -> str:
        i = self.inputs
        pool = [str(i / "missing.txt"), str(i), "data", "-", "/dev/null", str(i / "empty.txt"),
                str(i / "binary.bin"), str(i / "utf16.txt"), str(i / "latin1.txt"),
                str(i / "badutf8.txt"), "nodir/x.tsv", str(i / "readonly.txt"),
                str(i / "bom.txt"), str(i / os.fsdecode(b"\xff\xfe.txt")),
                self._rel(i / "text.txt"), str(i / "text.txt") + "/", "", str(i / "loop"),
                str(i / ("n" * 300)), str(i / "sub" / ".." / "short.txt"), "params.yaml",
                "data/prepared/" + CORPUS + "/train.npy", "~/no-such-charlm-file",
                str(i / "text.txt.gz"), str(i / "not_json.json"), str(i / "sub" / "*.txt")]
        return rng.choice(pool)

    def _value(self, opt: Opt, cmd: Command, rng: random.Random, used: list[str],
               ctx: dict, valid: bool = True) -> str:
        """One value for `opt`: a valid one, or (valid=False) a boundary or invalid one."""
        k = opt.kind
        if k in ("int", "float", "choice"):
            return self._number(opt, rng, valid)
        if k in ("corpus", "model", "newname"):
            return self._name(k, rng, valid, ctx)
        if k in ("history", "prime", "description", "encoding", "member", "against"):
            return self._text(k, rng, valid, ctx)
        if k in ("outpath", "path"):
            return self._path(opt, cmd, rng, used, ctx, valid)
        if k == "flag":
            return ""
        return rng.choice(["x", "the cat"]) if valid else rng.choice(TEXT_EDGE)

    def _number(self, opt: Opt, rng: random.Random, valid: bool) -> str:
        k = opt.kind
        if k == "int":
            if valid:
                lo, hi = {"order": (1, 4), "length": (1, 200), "num_samples": (1, 3),
                          "top_k": (1, 18), "top": (0, 5), "threads": (1, 2),
                          "seed": (0, 2**32)}.get(opt.dest, (0, 10))
                return str(rng.randint(lo, hi))
            return str(rng.choice(INT_EDGE))
        if k == "float":
            if valid:
                lo, hi = {"temperature": (0.3, 2.0), "add_k": (0.01, 2.0),
                          "tolerance": (0.0, 0.1)}.get(opt.dest, (0.0, 1.0))
                return repr(round(rng.uniform(lo, hi), 4))
            return rng.choice(FLOAT_EDGE)
        if k == "choice":
            if valid:
                return str(rng.choice(opt.choices))
            c = str(rng.choice(opt.choices))
            return rng.choice(["", c.upper(), c + " ", c[:-1] or "x", "x" + c, SURR, "-", "none"])
        raise AssertionError(k)

    def _name(self, k: str, rng: random.Random, valid: bool, ctx: dict) -> str:
        if k == "corpus":
            if valid:
                return CORPUS if rng.random() < 0.85 else rng.choice(["latex", "enwik8"])
            return rng.choice(["", "tinyshakespear", "TinyShakespeare", CORPUS + " ",
                               "tinyshakespeare/", "../" + CORPUS, CORPUS + "/../" + CORPUS,
                               "..", ".", "a/b", "/tmp", "c" * 300, SURR, CORPUS + SURR,
                               "tiny\nshakespeare", "-", *UNICODE])
        if k == "model":
            if valid:
                return rng.choice(TRAINED + ("lstm", "gru")) if rng.random() < 0.85 else rng.choice(
                    ["rnn", "lstm-10min", "rnn3"])
            return rng.choice(["", "lsmt", "LSTM", "lstm ", "gru/", "../lstm", "lstm/../gru",
                               "..", ".", "checkpoint", "m" * 300, SURR, "ngramm", "n-gram",
                               "lstm\n", "-", *UNICODE])
        if k == "newname":
            if valid:
                return rng.choice([f"fz{ctx['index']}", "mybook", "my.book-2", "A_1"])
            return rng.choice(["", CORPUS, "latex", "-x", ".hidden", "a/b", "../up", "..",
                               "n" * 300, SURR, "a b", "a\nb", "é", "con", "1", "_x",
                               "tiny\u200b", *UNICODE])
        raise AssertionError(k)

    def _text(self, k: str, rng: random.Random, valid: bool, ctx: dict) -> str:
        if k == "history":
            order = ctx.get("order")
            n = int(order) if isinstance(order, str) and re.fullmatch(r"[0-9]{1,2}", order) \
                and 0 < int(order) < 50 else rng.randint(1, 4)
            if valid:
                start = rng.randrange(len(self.text) - n)
                h = self.text[start:start + n]
                return ("~" * rng.randint(0, n) + h)[:n] if rng.random() < 0.2 else h
            return rng.choice(TEXT_EDGE + ["x" * n, "€" * n, SURR * n, "the" + "\udcff"])
        if k == "prime":
            if valid:
                start = rng.randrange(len(self.text) - 40)
                return self.text[start:start + rng.randint(1, 40)]
            return rng.choice(TEXT_EDGE + [self.text[:20000], "ß" * 5])
        if k == "description":
            return "a fuzzed corpus" if valid else rng.choice(TEXT_EDGE)
        if k == "encoding":
            return rng.choice(["utf-8", "utf-8", "latin-1"]) if valid else rng.choice(ENCODINGS)
        if k == "member":
            return rng.choice(["*.tex", "*.txt", "a.tex"]) if valid else rng.choice(MEMBERS)
        if k == "against":
            return "HEAD" if valid else rng.choice(REV_EDGE)
        raise AssertionError(k)

    def _path(self, opt: Opt, cmd: Command, rng: random.Random, used: list[str], ctx: dict,
              valid: bool) -> str:
        k, i = opt.kind, self.inputs
        if k == "outpath":
            if used and rng.random() < 0.15:
                return rng.choice(used)                          # the same path as an input
            if valid:
                return rng.choice([str(self.work / f"out{ctx['index']}.tsv"), "bits.tsv",
                                   "nodir/x.tsv", str(i / "sub" / "new.tsv")])
            return rng.choice([str(i), "data", "-", str(i / "devnull"), str(i / "empty.txt"),
                               str(i / "readonly.txt"), "", str(i / "loop"),
                               str(i / "missing" / "deep" / "x.tsv"), str(i / ("n" * 300)),
                               str(i / "text.txt") + "/x", str(i / os.fsdecode(b"\xff.tsv")),
                               "params.yaml", str(i / "text.txt")])
        if k == "path":
            if used and rng.random() < 0.15:
                return rng.choice(used)
            if valid:
                return self._valid_path(opt, cmd, rng)
            return self._generic_paths(rng)
        raise AssertionError(k)

    def _valid_path(self, opt: Opt, cmd: Command, rng: random.Random) -> str:
        i, m = self.inputs, f"data/models/{CORPUS}"
        d = opt.dest
        if d == "checkpoint":
            return rng.choice([f"{m}/lstm", f"{m}/gru", f"data/checkpoints/{CORPUS}/lstm/last.safetensors",
                               f"data/checkpoints/{CORPUS}/gru/last.safetensors",
                               f"{m}/lstm/model.safetensors", f"{m}/lstm/", f"data/ngram/{CORPUS}"])
        if d in ("current", "baseline"):
            return str(i / rng.choice(["summary.json", "summary.json", "summary_worse.json",
                                       "summary_nan.json", "summary_str.json",
                                       "summary_list.json", "summary_deep.json"]))
        if d == "noise":
            return str(i / rng.choice(["noise.json", "noise_bad.json", "noise_nan.json",
                                       "missing.json"]))
        if d == "sources":
            if rng.random() < 0.1:            # odd URLs (a missing file:// one retries: slow)
                return rng.choice(["ftp://example.invalid/x.txt", "file:///no/such/file.txt",
                                   "://", "file://", "file:" + str(i / "text.txt"),
                                   "FILE://" + str(i / "text.txt"), "http://"])
            return rng.choice([str(i / "text.txt"), self._rel(i / "text.txt"),
                               "file://" + str(i / "text.txt"), str(i / "short.txt"),
                               str(i / "text.txt.gz"), str(i / "texts.tar.gz"),
                               str(i / "latin1.txt"), str(i / "corrupt.gz")])
        if d == "prime_file":
            return rng.choice([str(i / "short.txt"), str(i / "unknown.txt"),
                               str(i / "bom.txt"), self._rel(i / "short.txt")])
        return rng.choice([str(i / "text.txt"), str(i / "short.txt"), str(i / "unknown.txt"),
                           self._rel(i / "text.txt"), "-"])

    def _stdin(self, rng: random.Random) -> bytes:
        return rng.choice([self.text.encode(), b"the cat sat\n", b"", b"\xff\xfe the cat",
                           "the cat".encode("utf-16"), "\ufeff".encode(), b"\x00\x00the",
                           "é ß \U0001F642\n".encode(), self.text.encode() * 3])

    # ----------------------------------------------------------------- one case
    def case(self, index: int) -> Case:
        """Case `index` of this seed (independent of every other case)."""
        rng = random.Random(f"{self.seed}:{index}")
        cmd = rng.choice(self.commands)
        ctx: dict = {"index": index}
        opts = sorted(cmd.opts, key=lambda o: o.dest != "order")   # order first: history fits it
        edge, chosen = self._pick(rng, opts, ctx)
        optional_argv, positionals = self._values(rng, cmd, opts, chosen, edge, ctx)
        argv = self._assemble(rng, cmd, optional_argv, positionals)
        return Case(index, cmd.name, argv, self._stdin(rng))

    def _pick(self, rng: random.Random, opts: list[Opt], ctx: dict) -> tuple[set, set]:
        """(options given a boundary or invalid value, options given at all)."""
        # how many values are boundary/invalid: none (35%), one (45%), each with p=0.4 (20%)
        r = rng.random()
        takes = [o for o in opts if o.kind != "flag"]
        edge = set() if r < 0.35 or not takes else (
            {rng.choice(takes).dest} if r < 0.8 else {o.dest for o in takes if rng.random() < 0.4})
        chosen = set()
        for opt in opts:
            p = (0.97 if opt.required or (opt.positional and opt.nargs not in ("?", "*"))
                 else 0.85 if opt.dest in USUALLY else 0.25 if opt.kind == "flag" else 0.35)
            if opt.dest in edge or rng.random() < p:
                chosen.add(opt.dest)
        if rng.random() < 0.9:                  # mostly coherent combinations (depth)
            dests = {o.dest for o in opts}
            for group in TOGETHER:
                if chosen & group and group <= dests:
                    chosen |= group
            for a, b in APART:
                if {a, b} <= chosen:
                    chosen.discard(rng.choice([x for x in (a, b) if x not in edge] or [a]))
            for a, (b, value) in IMPLIES.items():
                if a in chosen and b in dests and b not in edge:
                    chosen.add(b)
                    ctx.setdefault("fixed", {})[b] = value
        return edge, chosen

    def _values(self, rng: random.Random, cmd: Command, opts: list[Opt], chosen: set,
                edge: set, ctx: dict) -> tuple[list[list[str]], list[str]]:
        """(the options' argv groups, the positional values)."""
        optional_argv: list[list[str]] = []
        positionals: list[str] = []
        used: list[str] = []
        for opt in opts:
            if opt.dest not in chosen:
                continue
            valid = opt.dest not in edge
            if opt.positional:
                n = {"+": rng.choice([1, 1, 1, 2, 3]), "*": rng.randint(0, 2),
                     "?": 1}.get(opt.nargs, opt.nargs if isinstance(opt.nargs, int) else 1)
                vals = [self._value(opt, cmd, rng, used, ctx,
                                    (valid and rng.random() < 0.9) if j else valid)
                        for j in range(n)]
                used += [v for v in vals if opt.kind in ("path", "outpath")]
                positionals += vals
                continue
            flag = rng.choice(opt.strings)
            if opt.kind == "flag":
                optional_argv.append([flag])
                continue
            v = ctx.get("fixed", {}).get(opt.dest) or self._value(opt, cmd, rng, used, ctx, valid)
            if opt.dest == "order":
                ctx["order"] = v
            if opt.kind in ("path", "outpath"):
                used.append(v)
            optional_argv.append([f"{flag}={v}"] if rng.random() < 0.4 else [flag, v])
        return optional_argv, positionals

    def _assemble(self, rng: random.Random, cmd: Command, optional_argv: list[list[str]],
                  positionals: list[str]) -> list[str]:
        """The argv: options shuffled, extras (a duplicate, an unknown option, --help, an
        abbreviation), positionals before, after or behind `--`."""
        rng.shuffle(optional_argv)
        r = rng.random()
        if r < 0.03 and optional_argv:
            optional_argv.append(list(rng.choice(optional_argv)))
        elif r < 0.05:
            optional_argv.append([rng.choice(["--nope", "-x", "--corpus-name=x", "--"])])
        elif r < 0.065:
            optional_argv.append(["--help"])
        elif r < 0.08 and optional_argv and optional_argv[0][0].startswith("--") \
                and "=" not in optional_argv[0][0] and len(optional_argv[0][0]) > 5:
            optional_argv[0][0] = optional_argv[0][0][:5]        # argparse allows abbreviations
        argv = list(cmd.path)
        flat = [a for group in optional_argv for a in group]
        pos = positionals
        if pos and (any(v.startswith("-") and v != "-" for v in pos) or rng.random() < 0.1):
            argv += flat + ["--"] + pos
        elif pos and rng.random() < 0.5:
            argv += pos + flat
        else:
            argv += flat + pos
        if rng.random() < 0.01:
            argv = rng.choice([["--version"], ["--help"], [], [cmd.path[0]], ["nope"]])
        return argv

    def make_case(self, argv: list[str], stdin: bytes = b"", index: int = -1) -> Case:
        """A hand-written case (its command: the longest subcommand path argv starts with)."""
        names = [c.name for c in self.commands if list(c.path) == argv[:len(c.path)]]
        return Case(index, max(names, key=len) if names else " ".join(argv[:1]), list(argv),
                    stdin)
