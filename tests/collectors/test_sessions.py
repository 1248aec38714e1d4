"""Sessions share what does not depend on credentials: one parsed copy of botocore's models per process."""
from collectors.sessions import new_session


def test_every_session_reads_the_models_through_one_loader():
    a, b = new_session(region_name="us-east-1"), new_session(aws_access_key_id="k", aws_secret_access_key="s",
                                                               region_name="eu-west-1")
    loader = a._session.get_component("data_loader")
    assert b._session.get_component("data_loader") is loader
    a.client("lambda")
    model = loader.load_service_model("lambda", "service-2")
    assert loader.load_service_model("lambda", "service-2") is model   # parsed once, then cached
    assert b.client("lambda").meta.region_name == "eu-west-1"          # credentials and regions stay apart
    assert a.get_credentials().access_key != b.get_credentials().access_key
