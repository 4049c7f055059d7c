"""Node-side pieces shared by remote_model_puller and config_manager."""
