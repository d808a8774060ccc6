"""Static files under content-hashed names in production (`collectstatic` writes them and a manifest;
WhiteNoise serves them with a year-long, immutable cache). Lenient: a file missing from the manifest,
or no manifest at all (a server started without `collectstatic`), is linked under its plain name
(WhiteNoise serves it from the app folders) instead of failing the page."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]  # whitenoise is untyped
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        try:
            return str(super().stored_name(name))
        except ValueError:  # not collected: hashing needs the collected copy
            return name
