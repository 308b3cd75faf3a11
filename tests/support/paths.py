"""Where the repository and its sample data are."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DS1 = REPO / "data" / "sample" / "ds1.csv"
SAMPLE_DS2 = REPO / "data" / "sample" / "ds2.csv"
SAMPLE_SONGS = REPO / "data" / "sample" / "songs.csv"
