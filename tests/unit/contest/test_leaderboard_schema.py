import json

from contest.publish.leaderboard import SCHEMA_FILE, schema


def test_the_schema_file_is_generated_from_the_models() -> None:
    written = json.loads(SCHEMA_FILE.read_text())
    assert written == schema(), "the schema file is stale: run `python -m contest.publish.leaderboard`"
