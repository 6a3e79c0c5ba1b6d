from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from keys import services
from keys.forms import GRACE_CHOICES
from keys.models import ApiKey
from keys.networks import allowlist_clean
from keys.selectors import key_label_taken
from usage.metering import windows


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("deleted", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class ApiKeyAdminForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["owner", "label", "rate_limit", "monthly_credits", "expires_at", "allowed_ips"]
        widgets = {"allowed_ips": forms.TextInput(attrs={"size": 60})}

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        if value is not None and value != self.instance.expires_at and value <= windows.utc_now():
            raise ValidationError(services.PAST_EXPIRY)
        return value

    def clean_allowed_ips(self):
        try:
            return allowlist_clean(self.cleaned_data["allowed_ips"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_label(self):
        try:
            return services.label_clean(self.cleaned_data["label"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["label"]) from None

    def clean(self):
        cleaned = super().clean()
        # The partial unique index involves deleted_at, which this form leaves out, so
        # Django's own constraint check skips it: ask the same question the service asks.
        owner = cleaned.get("owner") if "owner" in self.fields else self.instance.owner
        label = cleaned.get("label")
        if (
            owner
            and label
            and key_label_taken(owner=owner, label=label, exclude_pk=self.instance.pk)
        ):
            self.add_error("label", "This owner already has an active key with this label.")
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyAdminForm
    list_display = [
        "label",
        "masked",
        "owner",
        "owner_active",
        "expires_at",
        "created_at",
        "last_used_at",
        "status",
    ]
    list_filter = [
        ("owner", admin.RelatedOnlyFieldListFilter),
        StatusFilter,
        ("owner__is_active", admin.BooleanFieldListFilter),
    ]
    search_fields = ["label", "prefix", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = [
        "masked",
        "old_key",
        "rolled_at",
        "created_at",
        "last_used_at",
        "deleted_at",
    ]
    actions = ["roll_selected_keys", "delete_selected_keys"]
    EDITABLE = ["label", "rate_limit", "monthly_credits", "expires_at", "allowed_ips"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["owner", *self.EDITABLE]
        return [
            "owner",
            "label",
            "masked",
            *self.EDITABLE[1:],
            *self.readonly_fields[1:],
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # A key belongs to its owner for life; a deleted key stays as it was.
            extra = ["owner"] if obj.is_active else ["owner", *self.EDITABLE]
            return [*self.readonly_fields, *extra]
        return []

    @admin.display(description="old key (before the last roll)")
    def old_key(self, obj):
        if not obj.previous_prefix:
            return "-"
        until = obj.previous_valid_until.strftime("%Y-%m-%d %H:%M:%S UTC")
        state = "works until" if obj.previous_works else "stopped at"
        return f"{obj.previous_masked} {state} {until}"

    # A deactivated owner's keys are refused by the proxy (401): say so beside the key.
    @admin.display(description="owner active", boolean=True, ordering="owner__is_active")
    def owner_active(self, obj):
        return obj.owner.is_active

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Django's own action would erase rows and the usage history with them.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return False  # keys are only ever soft-deleted, through the action below

    @admin.action(description="Delete selected keys", permissions=["change"])
    def delete_selected_keys(self, request, queryset):
        count = services.keys_delete(queryset=queryset)
        self.message_user(
            request, f"Deleted {count} key(s). They can no longer be used.", messages.SUCCESS
        )

    @admin.action(description="Roll selected keys (new values, shown once)", permissions=["change"])
    def roll_selected_keys(self, request, queryset):
        """A confirmation page with the grace period, then the new values, shown once."""
        keys = list(queryset.filter(deleted_at__isnull=True).select_related("owner"))
        grace = request.POST.get("grace")
        if not keys:
            self.message_user(request, "Only active keys can be rolled.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "keys": keys,
            "grace_choices": GRACE_CHOICES,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "title": "Roll API keys",
        }
        if grace not in services.GRACE_PERIODS:
            return TemplateResponse(request, "admin/keys/apikey/roll_confirm.html", context)
        rolled = []
        with transaction.atomic():
            for key in keys:
                rolled.append(services.key_roll(key=key, grace=services.GRACE_PERIODS[grace]))
        context.update(rolled=rolled, title="API keys rolled")
        response = TemplateResponse(request, "admin/keys/apikey/rolled.html", context)
        add_never_cache_headers(response)
        return response

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            with transaction.atomic():
                services.key_rename(key=obj, label=data["label"])
                services.key_set_access(
                    key=obj, expires_at=data["expires_at"], allowed_ips=data["allowed_ips"]
                )
                services.key_set_limits(
                    key=obj,
                    by=request.user,
                    rate_limit=data["rate_limit"],
                    monthly_credits=data["monthly_credits"],
                )
            return
        # Only staff reach the admin, so the limits may go in with the new key.
        key, raw_key = services.key_create(
            owner=data["owner"],
            label=data["label"],
            rate_limit=data["rate_limit"],
            monthly_credits=data["monthly_credits"],
            expires_at=data["expires_at"],
            allowed_ips=data["allowed_ips"],
        )
        # The admin goes on with ``obj``: make it the row the service created.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        request._tollgate_raw_key = raw_key

    def response_add(self, request, obj, post_url_continue=None):
        raw_key = getattr(request, "_tollgate_raw_key", None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        # Rendered straight into this response, never into a message cookie or a session
        # row: the raw key is shown once and stored nowhere.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "key": obj,
            "raw_key": raw_key,
            "title": "API key created",
        }
        response = TemplateResponse(request, "admin/keys/apikey/created.html", context)
        add_never_cache_headers(response)
        return response
