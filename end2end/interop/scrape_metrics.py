"""Scrape onair's /metrics and parse it with prometheus_client's OpenMetrics parser (a parser
nobody here wrote: the text must be valid OpenMetrics for it to read at all).

    python scrape_metrics.py http://127.0.0.1:3181/metrics

Prints one JSON object: each sample as `name` or `name{label="value",...}` -> value.
"""

import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode("utf-8")
    if not content_type.startswith("application/openmetrics-text"):
        sys.exit(f"unexpected Content-Type {content_type!r}")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    json.dump(samples, sys.stdout)


if __name__ == "__main__":
    main()
