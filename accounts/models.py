from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

username_validator = RegexValidator(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,28}[A-Za-z0-9])\Z",
    "Use 3 to 30 ASCII letters, digits, '.', '_' or '-', starting and ending with a letter or digit.",
    code="username_invalid",
)


class CaseInsensitiveUserManager(UserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(username__iexact=username)


class User(AbstractUser):
    """Usernames are ASCII only and unique regardless of case, so `Alice`, `alice` and a Cyrillic
    look-alike `аlice` can never be three different people."""

    username = models.CharField(
        max_length=30,
        unique=True,
        validators=[username_validator],
        error_messages={"unique": "That username is taken."},
    )

    objects = CaseInsensitiveUserManager()  # type: ignore[misc]

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [models.UniqueConstraint(Lower("username"), name="user_username_ci_unique")]
