import os

from hypothesis import settings

# Locally every run explores new random inputs; in CI (CI=true) the inputs are
# derandomized so that a run is reproducible. HYPOTHESIS_PROFILE=thorough searches
# longer, for a deliberate bug hunt.
settings.register_profile("dev", max_examples=250, deadline=None)
settings.register_profile("ci", max_examples=250, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
