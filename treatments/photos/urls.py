from __future__ import annotations

from django.urls import path

from treatments.photos import views

app_name = "photos"

urlpatterns = [
    path("sessions/<int:session_pk>/upload/", views.photo_upload, name="upload"),
    path("sessions/<int:session_pk>/capture/", views.photo_capture, name="capture"),
    path("sessions/<int:session_pk>/capture/photo/", views.photo_capture_upload, name="capture_upload"),
    path("patients/<int:patient_pk>/", views.gallery, name="gallery"),
    path("patients/<int:patient_pk>/compare/", views.compare, name="compare"),
    path("<int:pk>/", views.photo_detail, name="photo_detail"),
    path("<int:pk>/<str:rendition>.jpg", views.photo_file, name="photo_file"),
    path("<int:pk>/marketing/", views.photo_marketing, name="photo_marketing"),
    path("<int:pk>/retire/", views.photo_retire, name="photo_retire"),
]
