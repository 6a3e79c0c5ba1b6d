from django import forms


class InviteForm(forms.Form):
    name = forms.CharField(max_length=150, help_text="As the team knows them.")
    email = forms.EmailField(
        max_length=150, help_text="They log in with this address and get the invitation there."
    )
