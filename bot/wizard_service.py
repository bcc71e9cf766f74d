"""The onboarding wizard's service: everything the wizard dialog needs that touches the outside world.

:class:`WizardService` implements :class:`dialogs.onboarding_wizard.WizardBackend`. It offers the choices of
each step (countries; license profiles with live free seats; vendor segments with their placement and the
information-barrier license a segment adds), checks each step with the domain's rules (and the sponsor in
the directory), plans the review exactly as provisioning will execute it, and submits: the request is
stored pending approval, audited, and handed to the approval poster.

Decisions are the domain's (:mod:`onboarding`); this module only gathers their inputs: seat counts from
:class:`bot.seats.SeatSnapshot`, "is this UPN taken?" from Graph and the request store, the configuration
and the segment catalog given to the constructor. Users read catalogue text (``_TEXTS`` here, and
:mod:`onboarding.messages`), never an exception's text.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol, TypeVar

from bot.seats import SeatReading, SeatSnapshot
from cards.actions import REACH_EVERYONE_NO, REACH_EVERYONE_YES, InputId, WizardStep
from cards.views import Attribute, ChoiceOption, FieldError, LicenseProfileOption, SegmentOption, SkuSeats
from dialogs.wizard_state import (
    AccessOptions,
    BarriersOptions,
    Requester,
    ReviewPlan,
    Sponsor,
    StepCheck,
    SubmitOutcome,
    SubmitRefused,
    Submitted,
    WizardState,
    WizardUnavailable,
)
from onboarding.audit import AuditAction, audit_detail
from onboarding.config import OnboardingConfig
from onboarding.errors import (
    CatalogNotUsable,
    ErrorCode,
    NamingError,
    SegmentError,
    UnknownLicenseProfile,
)
from onboarding.licensing import (
    LicensePlan,
    LicenseProfile,
    LicenseShortage,
    SeatCount,
    decide_licenses,
    friendly_product_name,
    preferred_ib_license,
)
from onboarding.messages import render, user_message
from onboarding.naming import UpnPlan, base_local_part, plan_upn
from onboarding.plan import ProvisioningPlan, build_plan
from onboarding.requests import OnboardingRequest, Person, draft_request, submit
from onboarding.segments import (
    GroupPlacement,
    Placement,
    Segment,
    SegmentCatalog,
    is_usable_for_onboarding,
    placement_for,
    validate_catalog,
)
from onboarding.validation import (
    AccessInput,
    ContractorInput,
    ValidatedAccess,
    ValidatedContractor,
    country_choices,
    validate_access,
    validate_contractor,
    validate_email,
)
from onboarding.validation import FieldError as DomainFieldError
from provisioning.directory import DirectoryUser
from provisioning.errors import GraphError
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.errors import StorageError
from storage.once import OnceMarks
from storage.requests import RequestStore, UpnAlreadyPlanned

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The approval poster: posts the approval card for request ``number``; returns the approvals channel's
#: name, or None when no channel is bound (the request then waits).
OnSubmitted = Callable[[int], Awaitable[str | None]]

DEFAULT_VENDOR_ACCOUNTS_GROUP_NAME: Final = "Vendor service accounts"
DEFAULT_DIRECTORY_TIMEOUT_SECONDS: Final = 5.0
#: How long a requester's sign-in address (the sponsor prefilled on the Access step) is reused before it
#: is looked up again. Only a default: the Access step checks whatever sponsor is sent in the directory.
DEFAULT_REQUESTER_UPN_TTL: Final = timedelta(minutes=10)
#: Requesters whose address is remembered at most (the oldest is forgotten first).
_MAX_REMEMBERED_REQUESTERS: Final = 1024
# build_plan needs a request number before the database allocates one; the review shows no number.
_PROVISIONAL_NUMBER: Final = 1
_EMPLOYEE_ID_BEFORE_SUBMISSION: Final = "The request id, given on submission"


class Directory(Protocol):
    """The directory look-ups the wizard needs (the Graph gateway implements them)."""

    async def find_user_by_upn(self, user_principal_name: str) -> DirectoryUser | None: ...

    async def get_user(self, id_or_upn: str) -> DirectoryUser: ...


class _Text(StrEnum):
    """Codes of the sentences this module shows (keys of ``_TEXTS``)."""

    DIRECTORY_UNAVAILABLE = "wizard.directory_unavailable"
    STORE_UNAVAILABLE = "wizard.store_unavailable"
    SEATS_UNKNOWN = "wizard.seats_unknown"
    SEATS_UNKNOWN_TITLE = "wizard.seats_unknown_title"
    SEATS_AS_OF = "wizard.seats_as_of"
    SPONSOR_NOT_FOUND = "wizard.sponsor_not_found"
    SPONSOR_DISABLED = "wizard.sponsor_disabled"
    SPONSOR_IS_VENDOR = "wizard.sponsor_is_vendor"
    NO_CATALOG = "wizard.no_catalog"
    NO_IB_LICENSE = "wizard.no_ib_license"
    NO_IB_SUBSCRIPTION = "wizard.no_ib_subscription"
    CHOOSE_ANSWER = "wizard.choose_answer"
    CHOOSE_SEGMENT = "wizard.choose_segment"
    SEGMENTS_UNAVAILABLE = "wizard.segments_unavailable"
    GO_BACK = "wizard.go_back"
    UPN_CHANGED = "wizard.upn_changed"
    UPN_TAKEN_MEANWHILE = "wizard.upn_taken_meanwhile"
    ALREADY_SUBMITTED = "wizard.already_submitted"
    NOT_A_REQUESTER = "wizard.not_a_requester"


_TEXTS: Final[dict[_Text, str]] = {
    _Text.DIRECTORY_UNAVAILABLE: (
        "I couldn't reach the directory (Microsoft Graph) just now, so nothing was checked. "
        "Please try again in a moment."
    ),
    _Text.STORE_UNAVAILABLE: (
        "I couldn't save your request just now; nothing was submitted. Please try again."
    ),
    _Text.SEATS_UNKNOWN: (
        "I couldn't read the free license seats from Microsoft Graph just now, so the request can't be "
        "checked. Please try again in a minute."
    ),
    _Text.SEATS_UNKNOWN_TITLE: "{title} (free seats unknown right now)",
    _Text.SEATS_AS_OF: "Free seats as of {time} UTC; they may have changed since.",
    _Text.SPONSOR_NOT_FOUND: (
        "No one in the directory signs in as {upn}. "
        "Enter the sponsor's sign-in address (name@yourcompany.com)."
    ),
    _Text.SPONSOR_DISABLED: "{name}'s account is disabled; choose a sponsor who is still with the company.",
    _Text.SPONSOR_IS_VENDOR: "{name} is a vendor service account; the sponsor must be an employee.",
    _Text.NO_CATALOG: "no information-barrier segment catalog is configured",
    _Text.NO_IB_LICENSE: "no license that includes information barriers has a free seat ({details})",
    _Text.NO_IB_SUBSCRIPTION: (
        "the tenant has no license that includes information barriers (looked for {names})"
    ),
    _Text.CHOOSE_ANSWER: "Choose yes or no.",
    _Text.CHOOSE_SEGMENT: "Choose the segment this contractor belongs in.",
    _Text.SEGMENTS_UNAVAILABLE: (
        "No segment can be chosen now (see above). Answer yes to continue without a barrier, or cancel."
    ),
    _Text.GO_BACK: "Go back to {step}: {message}",
    _Text.UPN_CHANGED: (
        "The account name {old} was taken in the meantime, so the plan now uses {new}. "
        "Check the review and submit again."
    ),
    _Text.UPN_TAKEN_MEANWHILE: (
        "The account name {upn} was just planned by another request. Check the new plan and submit again."
    ),
    _Text.ALREADY_SUBMITTED: "This onboarding was already submitted; type requests to see it.",
    _Text.NOT_A_REQUESTER: (
        "You're not allowed to onboard contractors any more. "
        "Ask your admin to add you to the requesters group."
    ),
}

# The name parts base_local_part() complains about, and the inputs they came from.
_NAME_FIELDS: Final = {
    "vendor company": InputId.VENDOR_COMPANY,
    "first name": InputId.FIRST_NAME,
    "last name": InputId.LAST_NAME,
}
# The domain validators' field names, and the card inputs they check.
_DOMAIN_FIELDS: Final = {
    "vendor_company": InputId.VENDOR_COMPANY,
    "first_name": InputId.FIRST_NAME,
    "last_name": InputId.LAST_NAME,
    "email": InputId.CONTRACTOR_EMAIL,
    "usage_location": InputId.USAGE_LOCATION,
    "license_profile": InputId.LICENSE_PROFILE,
    "end_date": InputId.END_DATE,
    "sponsor": InputId.SPONSOR,
}


def _text(code: _Text, **params: object) -> str:
    return _TEXTS[code].format(**params)


def _field_errors(errors: tuple[DomainFieldError, ...]) -> tuple[FieldError, ...]:
    """Domain field errors as card errors, each under the input it concerns."""
    return tuple(FieldError(error.message, _DOMAIN_FIELDS.get(error.field)) for error in errors)


def _code_of(err: Exception) -> str:
    return err.code if isinstance(err, GraphError) else "timeout"


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class _Planned:
    """Everything decided for a completed wizard: what the review shows and what submission stores."""

    contractor: ValidatedContractor
    access: ValidatedAccess
    profile: LicenseProfile
    requester: Person
    sponsor: Person
    sponsor_upn: str
    segment: Segment | None
    placement: Placement | None
    upn: UpnPlan | None
    licenses: LicensePlan | None
    reading: SeatReading
    warnings: tuple[str, ...]
    blockers: tuple[str, ...]

    def request(self, number: int, *, at: datetime) -> OnboardingRequest:
        """The request, submitted (pending approval), under ``number``."""
        draft = draft_request(
            number,
            self.contractor,
            self.access,
            requester=self.requester,
            sponsor=self.sponsor,
            segment=self.segment.name if self.segment is not None else None,
            created_at=at,
        )
        return submit(draft, at=at)


class WizardService:
    """The wizard's view of the world (see the module docstring); one instance serves every wizard."""

    def __init__(
        self,
        *,
        config: OnboardingConfig,
        catalog: SegmentCatalog | None,
        directory: Directory,
        seats: SeatSnapshot,
        requests: RequestStore,
        audit: AuditLog,
        on_submitted: OnSubmitted,
        vendor_accounts_group_id: str | None = None,
        vendor_accounts_group_name: str = DEFAULT_VENDOR_ACCOUNTS_GROUP_NAME,
        marks: OnceMarks | None = None,
        may_request: Callable[[str], Awaitable[bool]] | None = None,
        clock: Callable[[], datetime] = utc_now,
        directory_timeout_seconds: float = DEFAULT_DIRECTORY_TIMEOUT_SECONDS,
        requester_upn_ttl: timedelta = DEFAULT_REQUESTER_UPN_TTL,
    ) -> None:
        """Build the service.

        ``catalog`` None means no segment catalog is configured (segments are then unavailable).
        ``marks`` makes a wizard's submission happen once even across bot instances (a re-sent invoke);
        ``may_request`` re-checks at submission that the requester is still in the requesters group.
        ``directory_timeout_seconds`` bounds each directory look-up a click makes (Teams waits ~15 s).
        ``requester_upn_ttl``: how long the default sponsor of a requester is reused without a look-up.
        """
        self._config = config
        self._catalog = catalog
        self._catalog_validation = validate_catalog(catalog) if catalog is not None else None
        self._catalog_usable = catalog is not None and is_usable_for_onboarding(
            catalog, self._catalog_validation
        )
        self._directory = directory
        self._seats = seats
        self._requests = requests
        self._audit = audit
        self._on_submitted = on_submitted
        self._vendor_group_id = vendor_accounts_group_id
        self._vendor_group_name = vendor_accounts_group_name
        self._marks = marks
        self._may_request = may_request
        self._clock = clock
        self._directory_timeout = directory_timeout_seconds
        self._countries = tuple(ChoiceOption(code, name) for code, name in country_choices())
        self._requester_upn_ttl = requester_upn_ttl
        # Requester object id (lower case) -> (when looked up, sign-in address).
        self._requester_upns: OrderedDict[str, tuple[datetime, str]] = OrderedDict()

    # ------------------------------------------------------------------------------------ choices

    def countries(self) -> tuple[ChoiceOption, ...]:
        """Every usage location (ISO 3166-1 alpha-2 code and English name), sorted by name."""
        return self._countries

    async def access_options(self) -> AccessOptions:
        """The license profiles with the live free seats of each SKU, and the end-date window."""
        reading = await self._seats.current()
        today = self._today()
        policy = self._config.access
        return AccessOptions(
            profiles=tuple(
                self._profile_option(profile, reading) for profile in self._config.licensing.profiles
            ),
            min_end_date=today,
            max_end_date=policy.max_end_date(today),
            default_end_date=policy.default_end_date(today),
        )

    async def barriers_options(self, state: WizardState) -> BarriersOptions:
        """Vendor segments with their placement, and the IB license a segment adds (or why none can)."""
        if self._catalog is None or not self._catalog_usable:
            return BarriersOptions(segments=(), unavailable_reason=self._catalog_problem())
        segments = tuple(
            SegmentOption(value=segment.name, title=segment.name, placement=placement_for(segment).describe())
            for segment in self._catalog.vendor_segments
        )
        if self._profile_covers_ib(state.value(InputId.LICENSE_PROFILE)):
            return BarriersOptions(segments=segments)
        reading = await self._seats.current()
        if not reading.known:
            # Unknown seats don't hide the segments: the review checks again and blocks if need be.
            return BarriersOptions(segments=segments)
        candidate = preferred_ib_license(reading.counts, self._config.licensing.ib_capable_preference)
        if candidate is None:
            return BarriersOptions(segments=(), unavailable_reason=self._no_ib_license_reason(reading))
        return BarriersOptions(segments=segments, ib_license=_sku_view(candidate.part_number, candidate))

    async def default_sponsor(self, requester: Requester) -> str:
        """The requester's sign-in address ("" when the directory cannot say).

        Looked up once per ``requester_upn_ttl`` for each requester: every wizard's first Next needs it,
        and a directory call there holds the click up (the answer is only a default, checked later).
        """
        key = requester.aad_object_id.lower()
        now = self._clock()
        remembered = self._requester_upns.get(key)
        if remembered is not None and now - remembered[0] < self._requester_upn_ttl:
            return remembered[1]
        try:
            user = await self._within_budget(self._directory.get_user(requester.aad_object_id))
        except (GraphError, TimeoutError) as err:
            log.info("could not look up the requester", extra={"error_code": _code_of(err)})
            return ""
        self._requester_upns.pop(key, None)
        self._requester_upns[key] = (now, user.user_principal_name)
        while len(self._requester_upns) > _MAX_REMEMBERED_REQUESTERS:
            self._requester_upns.popitem(last=False)
        return user.user_principal_name

    # ------------------------------------------------------------------------------------ checks

    async def check_step(self, step: WizardStep, state: WizardState) -> StepCheck:
        """Every error of ``step`` at once, or its cleaned values (and, for Access, the sponsor)."""
        if step is WizardStep.CONTRACTOR:
            return self._check_contractor(state)
        if step is WizardStep.ACCESS:
            return await self._check_access(state)
        if step is WizardStep.BARRIERS:
            return await self._check_barriers(state)
        return StepCheck()

    def _check_contractor(self, state: WizardState) -> StepCheck:
        checked = validate_contractor(_contractor_input(state))
        if not checked.ok or checked.value is None:
            return StepCheck(errors=_field_errors(checked.errors))
        contractor = checked.value
        naming = self._config.naming
        try:
            # The account name must be possible before anyone reviews it (e.g. a name of emoji only).
            base_local_part(
                contractor.first_name,
                contractor.last_name,
                contractor.vendor_company,
                template=naming.upn_template,
                reserve=len(str(naming.max_suffix)),
            )
        except NamingError as err:
            field = _NAME_FIELDS.get(getattr(err, "field", ""))
            return StepCheck(errors=(FieldError(user_message(err), field),))
        return StepCheck(
            values={
                InputId.VENDOR_COMPANY: contractor.vendor_company,
                InputId.FIRST_NAME: contractor.first_name,
                InputId.LAST_NAME: contractor.last_name,
                InputId.CONTRACTOR_EMAIL: contractor.email,
                InputId.USAGE_LOCATION: contractor.usage_location,
            }
        )

    async def _check_access(self, state: WizardState) -> StepCheck:
        checked = validate_access(
            _access_input(state),
            today=self._today(),
            policy=self._config.access,
            profile_keys=self._config.licensing.profile_keys,
        )
        errors = list(_field_errors(checked.errors))
        sponsor: Sponsor | None = None
        typed = validate_email(state.value(InputId.SPONSOR), field="sponsor", label="Sponsor")
        if not typed.ok or typed.value is None:
            errors += _field_errors(typed.errors)
        else:
            found = await self._resolve_sponsor(typed.value, state.requester)
            if isinstance(found, FieldError):
                errors.append(found)
            else:
                sponsor = found
        if errors or checked.value is None or sponsor is None:
            return StepCheck(errors=tuple(errors))
        return StepCheck(
            values={
                InputId.LICENSE_PROFILE: checked.value.license_profile,
                InputId.END_DATE: checked.value.end_date.isoformat(),
                InputId.SPONSOR: sponsor.upn,
            },
            sponsor=sponsor,
        )

    async def _resolve_sponsor(self, upn: str, requester: Requester) -> Sponsor | FieldError:
        try:
            user = await self._within_budget(self._directory.find_user_by_upn(upn))
        except (GraphError, TimeoutError) as err:
            log.info("could not look up the sponsor", extra={"error_code": _code_of(err)})
            return FieldError(_text(_Text.DIRECTORY_UNAVAILABLE))
        if user is None:
            return FieldError(_text(_Text.SPONSOR_NOT_FOUND, upn=upn), InputId.SPONSOR)
        name = user.display_name or user.user_principal_name
        if user.account_enabled is False:
            return FieldError(_text(_Text.SPONSOR_DISABLED, name=name), InputId.SPONSOR)
        if (user.employee_type or "").casefold() == "vendor":
            return FieldError(_text(_Text.SPONSOR_IS_VENDOR, name=name), InputId.SPONSOR)
        if user.id.lower() == requester.aad_object_id.lower():
            name = requester.name or name
        return Sponsor(aad_object_id=user.id, name=name[:256], upn=user.user_principal_name)

    async def _check_barriers(self, state: WizardState) -> StepCheck:
        answer = state.value(InputId.REACH_EVERYONE).strip().lower()
        if answer == REACH_EVERYONE_YES:
            return StepCheck(values={InputId.REACH_EVERYONE: REACH_EVERYONE_YES, InputId.SEGMENT: ""})
        if answer != REACH_EVERYONE_NO:
            return StepCheck(errors=(FieldError(_text(_Text.CHOOSE_ANSWER), InputId.REACH_EVERYONE),))
        options = await self.barriers_options(state)
        if options.unavailable_reason is not None:
            return StepCheck(errors=(FieldError(_text(_Text.SEGMENTS_UNAVAILABLE), InputId.SEGMENT),))
        name = state.value(InputId.SEGMENT).strip()
        if not name:
            return StepCheck(errors=(FieldError(_text(_Text.CHOOSE_SEGMENT), InputId.SEGMENT),))
        segment = self._catalog.find(name) if self._catalog is not None else None
        if segment is None or segment not in self._catalog_vendor_segments():
            message = render(ErrorCode.UNKNOWN_SEGMENT, segment=name[:64])
            return StepCheck(errors=(FieldError(message, InputId.SEGMENT),))
        return StepCheck(values={InputId.REACH_EVERYONE: REACH_EVERYONE_NO, InputId.SEGMENT: segment.name})

    # ------------------------------------------------------------------------------------ review

    async def review(self, state: WizardState) -> ReviewPlan:
        """The exact plan: UPN (collisions resolved), display name, attributes, licenses, groups, segment.

        Raises :class:`WizardUnavailable` when the directory cannot say whether the name is free.
        """
        planned = await self._plan(state)
        plan = self._provisional_plan(planned)
        attributes: tuple[Attribute, ...] = ()
        if plan is not None:
            attributes = tuple(
                Attribute(label, _EMPLOYEE_ID_BEFORE_SUBMISSION if value == plan.employee_id else value)
                for label, value in plan.describe()
            )
        licenses = (
            planned.licenses.product_names
            if planned.licenses is not None
            else tuple(friendly_product_name(part) for part in planned.profile.sku_part_numbers)
        )
        return ReviewPlan(
            upn=planned.upn.upn if planned.upn is not None else "—",
            display_name=planned.upn.display_name if planned.upn is not None else "—",
            attributes=attributes,
            licenses=licenses,
            groups=self._group_names(planned.placement),
            end_date=planned.access.end_date,
            sponsor=f"{planned.sponsor.display_name} ({planned.sponsor_upn})",
            segment=planned.segment.name if planned.segment is not None else None,
            segment_placement=planned.placement.describe() if planned.placement is not None else None,
            warnings=planned.warnings,
            blockers=planned.blockers,
        )

    async def _plan(self, state: WizardState) -> _Planned:
        contractor_check = validate_contractor(_contractor_input(state))
        access_check = validate_access(
            _access_input(state),
            today=self._today(),
            policy=self._config.access,
            profile_keys=self._config.licensing.profile_keys,
        )
        contractor, access = contractor_check.value, access_check.value
        if contractor is None or access is None:
            # Only possible when time passed (an end date now in the past) or the configuration changed.
            problems = [
                _text(_Text.GO_BACK, step=step, message=error.message)
                for step, checked in (("Contractor", contractor_check), ("Access", access_check))
                for error in checked.errors
            ]
            raise WizardUnavailable(" ".join(problems))
        profile = self._config.licensing.profile(access.license_profile)
        requester = Person(aad_object_id=state.requester.aad_object_id, display_name=state.requester.name)
        sponsor = (
            Person(aad_object_id=state.sponsor.aad_object_id, display_name=state.sponsor.name)
            if state.sponsor is not None
            else requester
        )
        sponsor_upn = state.sponsor.upn if state.sponsor is not None else state.value(InputId.SPONSOR)
        blockers: list[str] = []
        warnings: list[str] = []
        segment, placement = self._chosen_segment(state, blockers, warnings)
        upn = await self._plan_upn(contractor, blockers)
        reading = await self._seats.current()
        licenses: LicensePlan | None = None
        if not reading.known:
            blockers.append(_text(_Text.SEATS_UNKNOWN))
        else:
            decision = decide_licenses(
                profile,
                reading.counts,
                segment_chosen=segment is not None,
                ib_capable_preference=self._config.licensing.ib_capable_preference,
            )
            if isinstance(decision, LicenseShortage):
                blockers.append(render(ErrorCode.NO_FREE_SEATS, shortages="; ".join(decision.reasons)))
            else:
                licenses = decision
            if reading.stale and reading.as_of is not None:
                warnings.append(_text(_Text.SEATS_AS_OF, time=f"{reading.as_of:%H:%M}"))
        return _Planned(
            contractor=contractor,
            access=access,
            profile=profile,
            requester=requester,
            sponsor=sponsor,
            sponsor_upn=sponsor_upn,
            segment=segment,
            placement=placement,
            upn=upn,
            licenses=licenses,
            reading=reading,
            warnings=tuple(warnings),
            blockers=tuple(blockers),
        )

    def _chosen_segment(
        self, state: WizardState, blockers: list[str], warnings: list[str]
    ) -> tuple[Segment | None, Placement | None]:
        if state.value(InputId.REACH_EVERYONE) != REACH_EVERYONE_NO:
            return None, None
        name = state.value(InputId.SEGMENT)
        if self._catalog is None or not self._catalog_usable:
            blockers.append(_first_upper(self._catalog_problem()) + ".")
            return None, None
        segment = self._catalog.find(name)
        if segment is None:
            blockers.append(render(ErrorCode.UNKNOWN_SEGMENT, segment=name[:64]))
            return None, None
        try:
            placement = placement_for(segment)
        except SegmentError as err:
            blockers.append(user_message(err))
            return None, None
        if self._catalog_validation is not None:
            # The catalog's warnings about this segment (e.g. it replaces the company entered) matter here.
            warnings += [
                issue.message for issue in self._catalog_validation.warnings if issue.segment == segment.name
            ]
        return segment, placement

    async def _plan_upn(self, contractor: ValidatedContractor, blockers: list[str]) -> UpnPlan | None:
        """The first free UPN: not in the directory and not planned by another open request."""
        taken: set[str] = set()
        while True:
            try:
                candidate = plan_upn(
                    contractor.first_name,
                    contractor.last_name,
                    contractor.vendor_company,
                    policy=self._config.naming,
                    taken=taken,
                )
            except NamingError as err:  # NoFreeUpn, or a name that cannot be written
                blockers.append(user_message(err))
                return None
            if not await self._upn_taken(candidate.upn):
                return candidate
            taken.add(candidate.upn)

    async def _upn_taken(self, upn: str) -> bool:
        try:
            if await self._requests.is_upn_reserved(upn):
                return True
        except StorageError as err:
            log.warning("could not check planned account names", extra={"error_code": err.code})
            raise WizardUnavailable(_text(_Text.STORE_UNAVAILABLE)) from err
        try:
            return await self._within_budget(self._directory.find_user_by_upn(upn)) is not None
        except (GraphError, TimeoutError) as err:
            log.info("could not check an account name in the directory", extra={"error_code": _code_of(err)})
            raise WizardUnavailable(_text(_Text.DIRECTORY_UNAVAILABLE)) from err

    def _provisional_plan(self, planned: _Planned) -> ProvisioningPlan | None:
        """The plan as it will be stored, under a stand-in request number (for the review's rows)."""
        if planned.upn is None:
            return None
        licenses = planned.licenses or LicensePlan(part_numbers=planned.profile.sku_part_numbers)
        return build_plan(
            planned.request(_PROVISIONAL_NUMBER, at=self._clock()),
            upn=planned.upn,
            licenses=licenses,
            placement=planned.placement,
            vendor_accounts_group_id=self._vendor_group_id,
        )

    # ------------------------------------------------------------------------------------ submit

    async def submit(self, state: WizardState) -> SubmitOutcome:
        """Plan again; if nothing blocks and the UPN is the one reviewed, store the request pending
        approval, audit it and ask for approval. Otherwise refuse, creating nothing."""
        requester_id = state.requester.aad_object_id
        if self._may_request is not None and not await self._may_request(requester_id):
            return SubmitRefused((_text(_Text.NOT_A_REQUESTER),))
        planned = await self._plan(state)
        if planned.blockers:
            return SubmitRefused(planned.blockers)
        upn, licenses = planned.upn, planned.licenses
        # No blockers means both were planned.
        assert upn is not None
        assert licenses is not None
        if state.reviewed_upn is not None and upn.upn.lower() != state.reviewed_upn.lower():
            return SubmitRefused((_text(_Text.UPN_CHANGED, old=state.reviewed_upn, new=upn.upn),))
        mark = f"wizard.submit:{state.wizard_id}"
        if self._marks is not None and not await self._marks.claim(mark, owner=requester_id):
            return SubmitRefused((_text(_Text.ALREADY_SUBMITTED),))
        now = self._clock()

        def make(number: int) -> tuple[OnboardingRequest, ProvisioningPlan]:
            request = planned.request(number, at=now)
            plan = build_plan(
                request,
                upn=upn,
                licenses=licenses,
                placement=planned.placement,
                vendor_accounts_group_id=self._vendor_group_id,
            )
            return request, plan

        try:
            stored = await self._requests.create(make)
        except UpnAlreadyPlanned:
            await self._release(mark)
            return SubmitRefused((_text(_Text.UPN_TAKEN_MEANWHILE, upn=upn.upn),))
        except StorageError as err:
            await self._release(mark)
            log.warning("could not store an onboarding request", extra={"error_code": err.code})
            raise WizardUnavailable(_text(_Text.STORE_UNAVAILABLE)) from err
        request = stored.request
        await self._audit_submission(request, stored.plan, state.wizard_id)
        channel = await self._ask_for_approval(request)
        return Submitted(request_id=request.request_id, approvals_channel=channel)

    async def _audit_submission(
        self, request: OnboardingRequest, plan: ProvisioningPlan, wizard_id: str
    ) -> None:
        detail = audit_detail(
            wizard_id=wizard_id,
            upn=plan.upn,
            vendor=request.vendor_company,
            license_profile=request.license_profile,
            licenses=list(plan.license_part_numbers),
            segment=request.segment,
            end_date=request.end_date,
            sponsor_aad_id=request.sponsor.aad_object_id,
        )
        for action in (AuditAction.REQUEST_CREATED, AuditAction.REQUEST_SUBMITTED):
            await self._audit.append(
                action,
                actor_aad_id=request.requester.aad_object_id,
                actor_name=request.requester.display_name,
                request_id=request.request_id,
                target=plan.upn,
                detail=detail,
                at=request.submitted_at,
            )

    async def _ask_for_approval(self, request: OnboardingRequest) -> str | None:
        try:
            return await self._on_submitted(request.number)
        except Exception as err:
            # The request is stored and waits either way; the approval card can be posted again later.
            log.error(
                "could not post the approval card",
                extra={"request_id": request.request_id, "error_type": type(err).__name__},
            )
            return None

    async def _release(self, mark: str) -> None:
        if self._marks is not None:
            await self._marks.release(mark)

    # ------------------------------------------------------------------------------------ helpers

    async def _within_budget(self, lookup: Awaitable[T]) -> T:
        """One directory look-up, bounded so that a click is answered before Teams gives up on it."""
        return await asyncio.wait_for(lookup, timeout=self._directory_timeout)

    def _today(self) -> date:
        return self._clock().date()

    def _catalog_vendor_segments(self) -> tuple[Segment, ...]:
        return self._catalog.vendor_segments if self._catalog is not None else ()

    def _catalog_problem(self) -> str:
        if self._catalog is None:
            return _text(_Text.NO_CATALOG)
        errors = self._catalog_validation.errors if self._catalog_validation is not None else ()
        if errors:
            return user_message(CatalogNotUsable([issue.message for issue in errors]))
        return render(ErrorCode.CATALOG_NOT_USABLE, count="0")

    def _profile_covers_ib(self, key: str) -> bool:
        preference = self._config.licensing.ib_capable_preference
        try:
            profile = self._config.licensing.profile(key)
        except UnknownLicenseProfile:
            return False
        return any(part in preference for part in profile.sku_part_numbers)

    def _no_ib_license_reason(self, reading: SeatReading) -> str:
        preference = self._config.licensing.ib_capable_preference
        present = [count for part in preference if (count := reading.get(part)) is not None]
        if not present:
            names = ", ".join(friendly_product_name(part) for part in preference)
            return _text(_Text.NO_IB_SUBSCRIPTION, names=names)
        return _text(_Text.NO_IB_LICENSE, details="; ".join(count.describe() for count in present))

    def _profile_option(self, profile: LicenseProfile, reading: SeatReading) -> LicenseProfileOption:
        if not reading.known:
            title = _text(_Text.SEATS_UNKNOWN_TITLE, title=profile.display_name)
            return LicenseProfileOption(value=profile.key, title=title)
        seats = tuple(_sku_view(part, reading.get(part)) for part in profile.sku_part_numbers)
        return LicenseProfileOption(value=profile.key, title=profile.display_name, seats=seats)

    def _group_names(self, placement: Placement | None) -> tuple[str, ...]:
        names: list[str] = []
        if self._vendor_group_id:
            names.append(self._vendor_group_name)
        if isinstance(placement, GroupPlacement):
            names.append(placement.group_label)
        return tuple(names)


def _sku_view(part_number: str, count: SeatCount | None) -> SkuSeats:
    name = friendly_product_name(part_number)
    if count is None:
        # The tenant has no such subscription: shown as none free, which is what it means for a request.
        return SkuSeats(name=name, part_number=part_number, free=0, total=0)
    return SkuSeats(name=name, part_number=part_number, free=count.free, total=count.enabled)


def _contractor_input(state: WizardState) -> ContractorInput:
    return ContractorInput(
        vendor_company=state.value(InputId.VENDOR_COMPANY),
        first_name=state.value(InputId.FIRST_NAME),
        last_name=state.value(InputId.LAST_NAME),
        email=state.value(InputId.CONTRACTOR_EMAIL),
        usage_location=state.value(InputId.USAGE_LOCATION),
    )


def _access_input(state: WizardState) -> AccessInput:
    # The sponsor is resolved in the directory by sign-in address, not given as an object id.
    return AccessInput(
        license_profile=state.value(InputId.LICENSE_PROFILE), end_date=state.value(InputId.END_DATE)
    )


__all__ = [
    "DEFAULT_DIRECTORY_TIMEOUT_SECONDS",
    "DEFAULT_VENDOR_ACCOUNTS_GROUP_NAME",
    "Directory",
    "OnSubmitted",
    "WizardService",
]
