"""A CycloneDX 1.5 JSON SBOM of scanned images (`cyclonedx-python-lib`): the image as the
metadata component, each package found as a library with its purl, licence and the layer that
introduced it, and the vulnerabilities matched. Pure: built from stored scan rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilitySeverity,
)
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

from dockyard.scanning.models import ImageScan

_SEVERITY = {
    "critical": VulnerabilitySeverity.CRITICAL,
    "major": VulnerabilitySeverity.MEDIUM,
    "minor": VulnerabilitySeverity.LOW,
}


def _purl(value: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(value) if value else None
    except ValueError:
        return None


def _image_component(rows: Sequence[ImageScan]) -> Component:
    first = rows[0]
    return Component(
        name=f"{first.namespace}/{first.repository}:{first.tag}",
        version=first.manifest_digest,
        type=ComponentType.CONTAINER,
        bom_ref=f"image:{first.manifest_digest}",
    )


def build_sbom(rows: Sequence[ImageScan]) -> str:
    """The SBOM of one tag's scanned images (one per platform) as CycloneDX 1.5 JSON."""
    bom = Bom()
    root = _image_component(rows)
    bom.metadata.component = root
    refs: dict[str, Component] = {}
    for row in rows:
        for pkg in row.components or []:
            ref = f"{pkg.get('purl') or pkg.get('name')}#{row.manifest_digest}"
            if ref in refs:
                continue
            component = Component(
                name=str(pkg.get("binary") or pkg.get("name") or ""),
                version=str(pkg.get("version") or ""),
                type=ComponentType.LIBRARY,
                purl=_purl(str(pkg.get("purl") or "")),
                bom_ref=ref,
                properties=[
                    Property(name="dockyard:ecosystem", value=str(pkg.get("ecosystem", ""))),
                    Property(name="dockyard:layer", value=str(pkg.get("layer", ""))),
                    Property(name="dockyard:platform", value=f"{row.os}/{row.architecture}"),
                ],
            )
            if pkg.get("license"):
                component.licenses.add(LicenseExpression(str(pkg["license"])))
            refs[ref] = component
            bom.components.add(component)
        for f in row.findings or []:
            pkg = f.get("package") or {}
            ref = f"{pkg.get('purl') or pkg.get('name')}#{row.manifest_digest}"
            if ref not in refs:
                continue
            rating = VulnerabilityRating(
                score=f.get("cvss"), severity=_SEVERITY.get(str(f.get("severity")))
            )
            bom.vulnerabilities.add(
                Vulnerability(
                    bom_ref=f"{f.get('id')}#{ref}",
                    id=str(f.get("id") or ""),
                    description=str(f.get("summary") or ""),
                    ratings=[rating],
                    affects=[BomTarget(ref=str(refs[ref].bom_ref))],
                )
            )
    bom.register_dependency(root, list(refs.values()))
    return JsonV1Dot5(bom).output_as_string(indent=None)
