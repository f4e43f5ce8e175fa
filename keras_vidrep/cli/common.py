"""Flags generated from `Config` fields, and the one-line error handling every command shares."""
import dataclasses
import signal
import sys

from absl import app, flags, logging

from keras_vidrep.config import Config
from keras_vidrep.errors import ConfigError, VidrepError
from keras_vidrep.runtime import startup
from keras_vidrep.settings import DEFAULT_TASK, TRAINER_FIELDS, TrainerSettings


def _define(field, flag_values, help_suffix="", choices=None):
    help_text, choices = field.metadata["help"] + help_suffix, choices or field.metadata.get("choices")
    if choices:
        flags.DEFINE_enum(field.name, field.default, choices, help_text, flag_values=flag_values)
    elif field.type is bool:
        flags.DEFINE_bool(field.name, field.default, help_text, flag_values=flag_values)
    elif field.type is int:
        flags.DEFINE_integer(field.name, field.default, help_text, flag_values=flag_values)
    elif field.type is float:
        flags.DEFINE_float(field.name, field.default, help_text, flag_values=flag_values)
    elif field.type is str:
        flags.DEFINE_string(field.name, field.default, help_text, flag_values=flag_values)
    else:  # tuples of ints
        flags.DEFINE_list(field.name, [str(v) for v in field.default], help_text, flag_values=flag_values)


def define_option_flags(options_class, flag_values=flags.FLAGS):
    """Defines one absl flag per field of the dataclass `options_class` (a command's options, written with
    `keras_vidrep.settings.setting`: the flag's default, help and choices)."""
    for field in dataclasses.fields(options_class):
        _define(field, flag_values)


def options_from_flags(options_class, flag_values=flags.FLAGS):
    """The command's options from the parsed flags (lists become tuples); `options.given` names the flags given
    on the command line or in a flagfile."""
    values = {}
    for field in dataclasses.fields(options_class):
        value = flag_values[field.name].value
        values[field.name] = tuple(value) if isinstance(value, list) else value
    options = options_class(**values)
    options.given = frozenset(f.name for f in dataclasses.fields(options_class) if flag_values[f.name].present)
    return options


def load_tensorflow():
    """Loads Keras and TensorFlow the commands' way (`runtime.startup.prepare`: the kernel library chosen, native
    start-up notices filtered): after the flags are checked, before the first library import that needs them."""
    startup.prepare()


def checked_options(options_class, flag_values=flags.FLAGS, then_load_tensorflow=True):
    """The command's options from the parsed flags, checked (the class's `validate`, where it has one) before
    TensorFlow loads (`load_tensorflow`, unless not `then_load_tensorflow`: the command loads it after checks of its
    own): a bad value is one line at once, not after TensorFlow's start-up."""
    options = options_from_flags(options_class, flag_values)
    if hasattr(options, "validate"):
        options.validate()
    if then_load_tensorflow:
        load_tensorflow()
    return options


def define_config_flags(flag_values=flags.FLAGS):
    """Defines `--task` and one absl flag per setting of the trainer and of every built-in task (a setting that
    several tasks share is one flag). The tasks' settings import Keras: TensorFlow loads first."""
    load_tensorflow()
    from keras_vidrep import tasks

    flags.DEFINE_string("task", DEFAULT_TASK, f"Model family to train: {', '.join(tasks.names())}, or "
                                              f"module.path:ClassName of a task of your own.", flag_values=flag_values)
    for field in dataclasses.fields(TrainerSettings):
        _define(field, flag_values)
    owners = {}  # setting name -> (its first field, tasks that have it, the choices of all of them)
    for name in tasks.names():
        for field in dataclasses.fields(tasks.get(name).Settings):
            entry = owners.setdefault(field.name, (field, [], []))
            entry[1].append(name)
            entry[2].extend(c for c in field.metadata.get("choices") or () if c not in entry[2])
    for field, names, choices in owners.values():
        suffix = f" [task {', '.join(names)}" + ("; the default depends on the task]" if len(names) > 1 else "]")
        _define(field, flag_values, suffix, choices)


def show_flags_in_help(module_name):
    """Makes `--help` list the flags of `module_name` and those defined here: a console script's own `__main__`
    module defines none, so absl alone would list nothing."""
    for module in (module_name, __name__):
        for flag in flags.FLAGS.get_key_flags_for_module(module):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run_app(body, module_name, program, positional=False):
    """Runs a command-line tool: parses flags (absl), then `run_main(body, program)`: user errors are one line.
    Positional arguments are refused, unless `positional`: then `body` is called with them (the arguments after
    `--`)."""
    show_flags_in_help(module_name)

    def main(argv):
        if len(argv) > 1 and not positional:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        run_main((lambda: body(argv[1:])) if positional else body, program)

    app.run(main)


def config_from_flags(flag_values=flags.FLAGS):
    """A validated Config from the parsed flags: the trainer's settings, and those of the task that were given on
    the command line or in a flagfile (the others keep the task's defaults). A given flag that the task does not
    have is an error."""
    from keras_vidrep import tasks

    task = flag_values["task"].value
    own = {f.name for f in dataclasses.fields(tasks.get(task).Settings)}
    values = {name: flag_values[name].value for name in TRAINER_FIELDS}
    for name in flag_values:
        if name in own and flag_values[name].present:
            values[name] = flag_values[name].value
    foreign = sorted(name for name in _task_flag_names() - own if flag_values[name].present)
    if foreign:
        raise ConfigError(f"{', '.join('--' + n for n in foreign)}: not a setting of task {task!r}")
    return Config(task, **values).validate()


def _task_flag_names():
    from keras_vidrep import tasks

    return {f.name for name in tasks.names() for f in dataclasses.fields(tasks.get(name).Settings)}


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that training saves a checkpoint on the way out."""


def _terminate(signum, frame):
    raise Terminated()


def run_main(main, program):
    """Runs `main()`: user errors become one line on stderr and exit code 2 (no traceback); Ctrl-C and SIGTERM
    end it cleanly (training saves a checkpoint first) with exit code 130 or 143."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except VidrepError as e:
        logging.flush()
        print(f"{program}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated)
        print(f"{program}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        sys.exit(143 if terminated else 130)
