import pickle

from baton.errors import InputError, Interrupted, MissingDependencyError, UsageError


def test_errors_cross_a_process_boundary_whole():
    # A build's worker process sends its error back pickled: message and fields must survive.
    error = pickle.loads(pickle.dumps(InputError("must be positive", path="a.yaml", line=3, field="steps")))
    assert type(error) is InputError
    assert str(error) == "a.yaml, line 3, field 'steps': must be positive"
    assert (error.path, error.line, error.field, error.reason) == ("a.yaml", 3, "steps", "must be positive")
    missing = pickle.loads(pickle.dumps(MissingDependencyError("laion_clap", "CLAP scores", "clap")))
    assert type(missing) is MissingDependencyError and missing.exit_code == 1
    assert str(missing) == "CLAP scores needs the package 'laion_clap': pip install 'baton-audio[clap]'"


def test_exit_statuses_tell_a_usage_error_from_bad_input():
    # A setting named alone, or an option the settings refuse, is a usage error (2); an error that
    # names a file or a line is bad input (1); a run stopped with Ctrl-C is 130.
    assert InputError("must be at least 1", field="steps").exit_code == 2
    assert UsageError("must be at least 1", path="option --steps", field="steps").exit_code == 2
    assert InputError("no such file", path="p.jsonl").exit_code == 1
    assert InputError("not valid JSON", path="p.jsonl", line=3, field="id").exit_code == 1
    assert InputError("the run failed").exit_code == 1
    assert Interrupted("interrupted after 2 of 4 clips").exit_code == 130
    usage = pickle.loads(pickle.dumps(UsageError("must be positive", path="option --lr", field="lr")))
    assert type(usage) is UsageError and usage.exit_code == 2
