from . import marketing_forecast
