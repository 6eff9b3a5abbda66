import pickle

from baton.errors import InputError, MissingDependencyError


def test_errors_cross_a_process_boundary_whole():
    # A build's worker process sends its error back pickled: message and fields must survive.
    error = pickle.loads(pickle.dumps(InputError("must be positive", path="a.yaml", line=3, field="steps")))
    assert type(error) is InputError
    assert str(error) == "a.yaml, line 3, field 'steps': must be positive"
    assert (error.path, error.line, error.field, error.reason) == ("a.yaml", 3, "steps", "must be positive")
    missing = pickle.loads(pickle.dumps(MissingDependencyError("laion_clap", "CLAP scores", "clap")))
    assert type(missing) is MissingDependencyError and missing.exit_code == 2
    assert str(missing) == "CLAP scores needs the package 'laion_clap': pip install 'baton-audio[clap]'"
