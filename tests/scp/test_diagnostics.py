"""The editor's diagnostics and `manage.py validate_policy`: every invalid input gives a clear error."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from governance.scp import diagnostics

GOOD_SCP = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}
        ],
    },
    indent=2,
)


def _codes(text: str, kind: str = "scp") -> dict[str, dict]:
    return {d.code: d.as_dict() for d in diagnostics.diagnose(text, kind)}


def test_a_good_scp_has_no_errors():
    found = diagnostics.diagnose(GOOD_SCP, "scp")
    assert not diagnostics.has_errors(found), found


def test_malformed_json_names_line_and_column():
    found = _codes('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Deny",}\n  ]\n}')
    assert set(found) == {"JSON_SYNTAX"}
    assert (found["JSON_SYNTAX"]["line"], found["JSON_SYNTAX"]["column"]) == (4, 23)


def test_principal_in_an_scp_is_an_error_on_its_statement_line():
    text = "\n".join(
        [
            '{"Version": "2012-10-17",',
            '"Statement": [',
            '{"Effect": "Allow", "Action": "*", "Resource": "*"},',
            "",
            '{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}',
            "]}",
        ]
    )
    found = _codes(text)
    assert found["SCP_PRINCIPAL"]["severity"] == "error"
    assert found["SCP_PRINCIPAL"]["line"] == 5 and found["SCP_PRINCIPAL"]["path"] == "Statement[1]"


def test_unknown_actions_and_unsupported_elements():
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "s3:GetObjects", "Resource": "*", "Foo": 1}],
        }
    )
    found = _codes(text)
    # A guardrail naming an action that does not exist restricts nothing: an error, not a hint.
    assert found["UNKNOWN_ACTION"]["severity"] == "error" and "s3:GetObjects" in found["UNKNOWN_ACTION"]["message"]
    assert found["UNSUPPORTED_ELEMENT"]["severity"] == "error"
    assert "MALFORMED" not in found  # the engine still checks the rest of the statement


def test_oversized_counts_every_character():
    statement = {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
    text = json.dumps({"Version": "2012-10-17", "Statement": [statement]}) + " " * 5100
    found = _codes(text)
    assert found["SIZE_LIMIT"]["severity"] == "error" and "5,120" in found["SIZE_LIMIT"]["message"]


def test_rcp_rules():
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                    "Action": "ec2:RunInstances",
                    "Resource": "*",
                }
            ],
        }
    )
    found = _codes(text, "rcp")
    assert found["RCP_PRINCIPAL"]["severity"] == "error"
    assert found["RCP_UNSUPPORTED_SERVICE"]["severity"] == "warning"


def test_parliament_lines_are_the_editors():
    statement = '  {"Effect": "Deny", "Action": "s3:GetObjects", "Resource": "*"}'
    text = '{\n "Version": "2012-10-17",\n "Statement": [\n' + statement + "\n ]\n}"
    lint = [d for d in diagnostics.diagnose(text, "scp") if d.source == "parliament"]
    assert lint and all(d.severity == "warning" for d in lint)


def test_a_registered_provider_adds_and_a_failing_one_is_reported():
    def analyzer(source):
        yield diagnostics.Diagnostic("AA_CHECK", "warning", "from elsewhere", source="access-analyzer")

    def broken(source):
        raise RuntimeError("endpoint down")

    diagnostics.register_provider("test-analyzer", analyzer, order=50)
    diagnostics.register_provider("test-broken", broken, order=51)
    try:
        found = _codes(GOOD_SCP)
        assert found["AA_CHECK"]["source"] == "access-analyzer"
        assert "endpoint down" in found["PROVIDER_FAILED"]["message"]
    finally:
        diagnostics._PROVIDERS.pop("test-analyzer")
        diagnostics._PROVIDERS.pop("test-broken")


def test_validate_policy_prints_json_and_exits_non_zero_on_error(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(GOOD_SCP)
    call_command("validate_policy", "--type", "scp", str(good))
    printed = json.loads(capsys.readouterr().out)
    assert printed["valid"] and printed["errors"] == 0 and printed["size_limit"] == 5120

    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}'
    )
    with pytest.raises(CommandError, match="1 error"):
        call_command("validate_policy", "--type", "scp", str(bad))
    printed = json.loads(capsys.readouterr().out)
    assert not printed["valid"] and printed["diagnostics"][0]["code"] == "SCP_PRINCIPAL"
    with pytest.raises(CommandError, match="cannot read"):
        call_command("validate_policy", "--type", "rcp", str(tmp_path / "missing.json"))
