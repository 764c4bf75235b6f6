"""The only Hydra/OmegaConf glue of sde_diffusion: schemas, config store, compose, script start.

``compose(overrides, config_name="config")`` composes ``conf/``; ``to_plain(cfg)`` gives the
library plain dicts; ``run_main(task, config_name)`` is how every script starts (expected
failures as one line, non-zero exit); ``hydra_ddp_argv`` handles torchrun. Importing this
package registers the structured-config schemas (idempotent).
"""
from .errors import ConfigError, explain
from .launch import (EXIT_BAD_INPUT, EXIT_FAILED, check_arguments, guarded, hydra_ddp_argv,
                     one_line_error, run_main)
from .schemas import Config, LikelihoodConfig, SampleConfig, SamplerConfig
from .store import CONF_DIR, compose, instantiate, register_configs, to_plain
from .validate import (check_keys, validate_config, validate_likelihood_config,
                       validate_sample_config, validate_sampler)

__all__ = ["compose", "to_plain", "instantiate", "register_configs", "CONF_DIR", "run_main", "guarded",
           "check_arguments", "ConfigError", "explain",
           "one_line_error", "hydra_ddp_argv", "EXIT_BAD_INPUT", "EXIT_FAILED", "Config",
           "SampleConfig", "SamplerConfig", "LikelihoodConfig",
           "validate_sample_config", "validate_likelihood_config", "validate_sampler",
           "validate_config", "check_keys"]

register_configs()
