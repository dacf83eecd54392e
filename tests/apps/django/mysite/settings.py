import os

SECRET_KEY = os.environ.get("SECRET_KEY", "jib-sample-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
DATABASES = {}
USE_TZ = True
