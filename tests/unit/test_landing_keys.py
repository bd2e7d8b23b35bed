from appflow_ingest.domain.landing.keys import is_run_metadata, parse_landing_key

EXECUTION = "9aa00099-9943-449a-9c7a-488dbc801242"


def test_full_layout_with_prefix_schema_version_date_and_partitions():
    key = (
        f"raw/salesforce/sf-accounts/schemaVersion_3/2024/04/16/19/05/{EXECUTION}/Account Rating=Warm/Type=null/part-0"
    )
    landing = parse_landing_key(key)
    assert landing.prefix == "raw/salesforce"
    assert landing.flow_name == "sf-accounts"
    assert landing.schema_version == 3
    assert landing.date_path == "2024/04/16/19/05"
    assert landing.execution_id == EXECUTION
    assert landing.partitions == {"Account Rating": "Warm", "Type": None}
    assert landing.file_name == "part-0"


def test_legacy_layout():
    landing = parse_landing_key(f"sf-accounts/{EXECUTION}/0c9f2e1a")
    assert (landing.prefix, landing.flow_name, landing.execution_id, landing.file_name) == (
        "",
        "sf-accounts",
        EXECUTION,
        "0c9f2e1a",
    )
    assert landing.date_path is None and landing.schema_version is None


def test_date_folders_without_hour():
    landing = parse_landing_key(f"p/flow/2024/04/16/{EXECUTION}/f.jsonl")
    assert (landing.prefix, landing.flow_name, landing.date_path) == ("p", "flow", "2024/04/16")


def test_a_bare_file_has_no_flow():
    landing = parse_landing_key("file.jsonl")
    assert landing.flow_name is None and landing.execution_id is None


def test_the_metadata_object_named_after_the_execution_is_recognised():
    assert is_run_metadata(parse_landing_key(f"flow/{EXECUTION}/{EXECUTION}"))
    assert not is_run_metadata(parse_landing_key(f"flow/{EXECUTION}/part-0"))


KNOWN_FLOWS = {"sf-accounts", "sf-contacts"}


def test_a_known_flow_anchors_the_key_even_without_an_execution_id_folder():
    landing = parse_landing_key("landing/sf-accounts/part-0", known_flows=KNOWN_FLOWS)
    assert (landing.prefix, landing.flow_name, landing.execution_id, landing.file_name) == (
        "landing",
        "sf-accounts",
        None,
        "part-0",
    )


def test_a_known_flow_reads_the_full_layout_forwards():
    key = f"raw/x=1/sf-accounts/schemaVersion_2/2024/04/16/19/{EXECUTION}/Account Rating=Warm/Type=null/part-0"
    landing = parse_landing_key(key, known_flows=KNOWN_FLOWS)
    assert landing.prefix == "raw/x=1"
    assert landing.flow_name == "sf-accounts"
    assert landing.schema_version == 2
    assert landing.date_path == "2024/04/16/19"
    assert landing.execution_id == EXECUTION
    assert landing.partitions == {"Account Rating": "Warm", "Type": None}


def test_known_and_unknown_flows_parse_the_standard_layouts_alike():
    for key in (
        f"sf-accounts/{EXECUTION}/f",
        f"p/q/sf-accounts/2024/04/16/{EXECUTION}/Type=null/f",
        f"p/sf-accounts/schemaVersion_1/{EXECUTION}/f",
    ):
        assert parse_landing_key(key, known_flows=KNOWN_FLOWS) == parse_landing_key(key)


def test_without_known_flows_a_missing_execution_folder_cannot_be_told():
    # Read backwards, the flow's folder is taken for an execution id: why configured flows anchor the key.
    landing = parse_landing_key("landing/sf-accounts/part-0")
    assert (landing.flow_name, landing.execution_id) == ("landing", "sf-accounts")
