"""The one configuration object (`Settings`, read once from YAML and the environment) and its check."""

from router.config.settings import (ApiKey, AuthSettings, BudgetLimit, CacheSettings, LearnerSettings, LimitSettings,
                                    Settings, TlsSettings)

__all__ = ["ApiKey", "AuthSettings", "BudgetLimit", "CacheSettings", "LearnerSettings", "LimitSettings", "Settings",
           "TlsSettings"]
