"What the benchmark scripts print about the machine beside their ratios (the ratios depend on it)."


def cpu_model():
    "The CPU's model name (Linux), or 'unknown CPU'."
    try: return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration): return "unknown CPU"
