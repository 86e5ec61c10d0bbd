"""Subset of the Clinical Conductor swagger ``definitions`` the simulator renders.

Extracted from ``cc_openapi.json`` (Swagger 2.0): for each response model the simulator serves
and every model it references, the property names with type, format, enum, ``$ref`` (bare model
name), ``items`` and ``maxLength``; descriptions dropped. Regenerate rather than hand-edit.
"""

from __future__ import annotations

import json
from typing import Any

DEFINITIONS: dict[str, dict[str, Any]] = json.loads(
    r"""
{
 "APPayerView": {
  "required": [],
  "properties": {
   "name": {
    "type": "string"
   },
   "payerId": {
    "type": "integer",
    "format": "int32"
   },
   "payerType": {
    "type": "string",
    "enum": [
     "Unknown",
     "Sponsor",
     "CRO"
    ]
   }
  }
 },
 "ARRemittanceAppliedItem": {
  "required": [],
  "properties": {
   "appliedItemId": {
    "type": "integer",
    "format": "int32"
   },
   "appliedItemUid": {
    "type": "string",
    "format": "uuid"
   },
   "itemId": {
    "type": "integer",
    "format": "int32"
   },
   "activityDate": {
    "type": "string",
    "format": "date-time"
   },
   "activityName": {
    "type": "string"
   },
   "screeningNumber": {
    "type": "string"
   },
   "siteName": {
    "type": "string"
   },
   "studyName": {
    "type": "string"
   },
   "amount": {
    "type": "number",
    "format": "double"
   },
   "balanceDue": {
    "type": "number",
    "format": "double"
   },
   "otherPayments": {
    "type": "number",
    "format": "double"
   },
   "accrualTypeName": {
    "type": "string"
   },
   "invoiceDate": {
    "type": "string",
    "format": "date-time"
   },
   "sponsorName": {
    "type": "string"
   },
   "randomizationNumber": {
    "type": "string"
   },
   "currency": {
    "type": "string"
   },
   "accruedItemId": {
    "type": "integer",
    "format": "int32"
   },
   "accrualType": {
    "type": "string",
    "enum": [
     "Unknown",
     "Element",
     "Visit",
     "Addon",
     "Action",
     "FixedFungible",
     "FixedItemized",
     "ElementQA",
     "VisitQA",
     "Stipend",
     "Bonus",
     "Sample"
    ]
   },
   "invoiceId": {
    "type": "integer",
    "format": "int32"
   },
   "paymentApplied": {
    "type": "number",
    "format": "double"
   },
   "invoiceName": {
    "type": "string"
   }
  }
 },
 "ARRemittanceCategoryView": {
  "required": [],
  "properties": {
   "name": {
    "type": "string"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "ARRemittanceInvoice": {
  "required": [],
  "properties": {
   "invoiceId": {
    "type": "integer",
    "format": "int32"
   },
   "totalAppliedAmount": {
    "type": "number",
    "format": "double"
   },
   "appliedItems": {
    "type": "array",
    "items": {
     "$ref": "ARRemittanceAppliedItem"
    }
   }
  }
 },
 "ARRemittanceViewModel": {
  "required": [
   "receivedDate"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "invoices": {
    "type": "array",
    "items": {
     "$ref": "ARRemittanceInvoice"
    }
   },
   "payer": {
    "$ref": "APPayerView"
   },
   "categories": {
    "type": "array",
    "items": {
     "$ref": "ARRemittanceCategoryView"
    }
   },
   "studyAllocations": {
    "type": "array",
    "items": {
     "$ref": "StudyAllocationsViewModel"
    }
   },
   "amount": {
    "type": "number",
    "format": "double"
   },
   "checkNumber": {
    "type": "string"
   },
   "description": {
    "type": "string"
   },
   "currencyCode": {
    "type": "string"
   },
   "receivedDate": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "ActionCategoryPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "type": {
    "type": "string"
   }
  }
 },
 "ActionFinanceViewModel": {
  "required": [],
  "properties": {
   "quantityCompleted": {
    "type": "number",
    "format": "double"
   },
   "unitOfMeasure": {
    "type": "string"
   },
   "unitQuantity": {
    "type": "number",
    "format": "double"
   },
   "unitPrice": {
    "type": "number",
    "format": "double"
   },
   "isPassThrough": {
    "type": "boolean"
   }
  }
 },
 "ActionScheduleViewModel": {
  "required": [],
  "properties": {
   "reference": {
    "$ref": "ReferencePreviewModel"
   },
   "schedulingMode": {
    "type": "string",
    "enum": [
     "FixedDate",
     "RelativeToMilestone",
     "RelativeToAction"
    ]
   },
   "dueDateMin": {
    "type": "string",
    "format": "date-time"
   },
   "dueDateMax": {
    "type": "string",
    "format": "date-time"
   },
   "offset": {
    "type": "integer",
    "format": "int32"
   },
   "offsetUnits": {
    "type": "string",
    "enum": [
     "Days",
     "Weeks",
     "Months"
    ]
   },
   "windowMax": {
    "type": "integer",
    "format": "int32"
   },
   "windowMin": {
    "type": "integer",
    "format": "int32"
   },
   "windowUnits": {
    "type": "string",
    "enum": [
     "Days",
     "Weeks",
     "Months"
    ]
   }
  }
 },
 "ActionUnitCompletionViewModel": {
  "required": [
   "unitQuantity",
   "completionDate"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "unitOfMeasure": {
    "type": "string"
   },
   "reportedBy": {
    "$ref": "StaffPreviewModel"
   },
   "unitQuantity": {
    "type": "number",
    "format": "double"
   },
   "comment": {
    "type": "string"
   },
   "completionDate": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "ActionViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "category": {
    "$ref": "ActionCategoryPreviewModel"
   },
   "assignedTo": {
    "$ref": "StaffPreviewModel"
   },
   "requestedBy": {
    "$ref": "StaffPreviewModel"
   },
   "completedBy": {
    "$ref": "StaffPreviewModel"
   },
   "scheduling": {
    "$ref": "ActionScheduleViewModel"
   },
   "finances": {
    "$ref": "ActionFinanceViewModel"
   },
   "name": {
    "type": "string"
   },
   "status": {
    "type": "string"
   },
   "type": {
    "type": "string"
   },
   "completedOn": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string"
   }
  }
 },
 "AppointmentPreview": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "status": {
    "type": "string",
    "enum": [
     "Unknown",
     "Pending",
     "Completed",
     "Started",
     "Cancelled",
     "NoShow"
    ]
   },
   "scheduledStart": {
    "type": "string",
    "format": "date-time"
   },
   "scheduledEnd": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "AppointmentViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "status": {
    "type": "string",
    "enum": [
     "Unknown",
     "Pending",
     "Completed",
     "Started",
     "Cancelled",
     "NoShow"
    ]
   },
   "plannedStart": {
    "type": "string",
    "format": "date-time"
   },
   "plannedEnd": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "site": {
    "$ref": "SitePreviewModel"
   },
   "patient": {
    "$ref": "PatientPreviewModel"
   },
   "visit": {
    "$ref": "VisitPreviewModel"
   }
  }
 },
 "CampaignElementPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "campaign": {
    "$ref": "CampaignPreviewModel"
   }
  }
 },
 "CampaignPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "CampaignTouchViewModel": {
  "required": [
   "date",
   "campaignMedia"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "campaignElement": {
    "$ref": "CampaignElementPreviewModel"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string",
    "maxLength": 100
   },
   "campaignMedia": {
    "type": "string",
    "maxLength": 25
   }
  }
 },
 "CceViewModel": {
  "required": [],
  "properties": {
   "applicationUrl": {
    "type": "string"
   },
   "instanceUID": {
    "type": "string"
   },
   "remoteLinks": {
    "type": "array",
    "items": {
     "$ref": "RemoteLinkViewModel"
    }
   },
   "sites": {
    "type": "array",
    "items": {
     "$ref": "SiteViewModel"
    }
   }
  }
 },
 "CcsViewModel": {
  "required": [],
  "properties": {
   "applicationUrl": {
    "type": "string"
   },
   "instanceUID": {
    "type": "string"
   },
   "sites": {
    "type": "array",
    "items": {
     "$ref": "SiteViewModel"
    }
   }
  }
 },
 "ClinicalConductorTopologyViewModel": {
  "required": [],
  "properties": {
   "cce": {
    "$ref": "CceViewModel"
   },
   "ccs": {
    "type": "array",
    "items": {
     "$ref": "CcsViewModel"
    }
   },
   "pubSubId": {
    "type": "string"
   }
  }
 },
 "ConditionPreviewViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "icd10Code": {
    "type": "string"
   },
   "icd9Code": {
    "type": "string"
   }
  }
 },
 "ConditionTypeViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "ContactViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "type": {
    "type": "string",
    "enum": [
     "Unknown",
     "Patient",
     "Staff",
     "Sponsor",
     "IRBSite",
     "SponsorDivision",
     "SponsorTeam",
     "Contact",
     "Provider",
     "SponsorTeamMember",
     "CRO",
     "Lab",
     "Vendor",
     "CROTeamMember",
     "Monitor",
     "Insurance"
    ]
   },
   "IsBusiness": {
    "type": "boolean"
   },
   "IsPrivate": {
    "type": "boolean"
   },
   "FirstName": {
    "type": "string"
   },
   "MiddleName": {
    "type": "string"
   },
   "LastName": {
    "type": "string"
   },
   "CompanyName": {
    "type": "string"
   },
   "Title": {
    "type": "string"
   },
   "Address1": {
    "type": "string"
   },
   "Address2": {
    "type": "string"
   },
   "Address3": {
    "type": "string"
   },
   "City": {
    "type": "string"
   },
   "State": {
    "type": "string"
   },
   "PostalCode": {
    "type": "string"
   },
   "Country": {
    "type": "string"
   },
   "Email": {
    "type": "string"
   },
   "Email2": {
    "type": "string"
   },
   "Phone": {
    "type": "string"
   },
   "Phone2": {
    "type": "string"
   },
   "Fax": {
    "type": "string"
   },
   "Fax2": {
    "type": "string"
   },
   "Mobile": {
    "type": "string"
   },
   "Mobile2": {
    "type": "string"
   },
   "Url": {
    "type": "string"
   },
   "Comment": {
    "type": "string"
   }
  }
 },
 "CroContactViewModel": {
  "required": [],
  "properties": {
   "cro1": {
    "$ref": "CroPreviewModel"
   },
   "cro2": {
    "$ref": "CroPreviewModel"
   },
   "reference": {
    "type": "string",
    "maxLength": 50
   },
   "comment": {
    "type": "string",
    "maxLength": 500
   }
  }
 },
 "CroPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "CustomFieldDefinition": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   },
   "dataType": {
    "type": "string",
    "enum": [
     "Unknown",
     "Text",
     "Numeric",
     "Date",
     "Boolean",
     "Lookup"
    ]
   },
   "minValue": {
    "type": "number",
    "format": "double"
   },
   "maxValue": {
    "type": "number",
    "format": "double"
   },
   "default": {
    "type": "string"
   },
   "lookupValues": {
    "type": "array",
    "items": {
     "type": "string"
    }
   },
   "sortOrder": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "CustomFieldModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "value": {
    "type": "string"
   },
   "attributeId": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "DBVersion": {
  "required": [],
  "properties": {
   "name": {
    "type": "string"
   },
   "versionID": {
    "type": "string",
    "format": "uuid"
   },
   "created": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "DeviceViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "DocumentTypePreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "category": {
    "type": "string"
   }
  }
 },
 "ElementPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "ElementViewModel": {
  "required": [
   "name",
   "type",
   "initialCategory",
   "initialInvoiceability"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "roomAssignment": {
    "$ref": "RoomAssignment"
   },
   "name": {
    "type": "string",
    "maxLength": 100
   },
   "type": {
    "type": "string",
    "maxLength": 50
   },
   "importId": {
    "type": "string",
    "maxLength": 50
   },
   "importType": {
    "type": "string",
    "maxLength": 50
   },
   "description": {
    "type": "string"
   },
   "initialCategory": {
    "type": "string",
    "maxLength": 50
   },
   "initialInvoiceability": {
    "type": "string",
    "maxLength": 50
   },
   "budget": {
    "type": "number",
    "format": "double"
   },
   "cost": {
    "type": "number",
    "format": "double"
   },
   "placeOfService": {
    "type": "string",
    "maxLength": 50
   },
   "cpt": {
    "type": "string",
    "maxLength": 50
   },
   "mnemonic": {
    "type": "string",
    "maxLength": 500
   },
   "standardTimeMinutes": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "EngagementPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "title": {
    "type": "string"
   }
  }
 },
 "Guardian": {
  "required": [],
  "properties": {
   "name": {
    "type": "string",
    "maxLength": 100
   },
   "phone": {
    "type": "string",
    "maxLength": 50
   },
   "email": {
    "type": "string",
    "maxLength": 100
   },
   "addressSameAsPatient": {
    "type": "boolean"
   },
   "address1": {
    "type": "string",
    "maxLength": 100
   },
   "address2": {
    "type": "string",
    "maxLength": 100
   },
   "city": {
    "type": "string",
    "maxLength": 100
   },
   "state": {
    "type": "string",
    "maxLength": 50
   },
   "zip": {
    "type": "string",
    "maxLength": 15
   },
   "relationshipToPatient": {
    "type": "string",
    "maxLength": 50
   },
   "receivePatientPayments": {
    "type": "boolean"
   }
  }
 },
 "Height": {
  "required": [],
  "properties": {
   "value": {
    "type": "number",
    "format": "double"
   },
   "unit": {
    "type": "string",
    "enum": [
     "inches",
     "cms"
    ]
   }
  }
 },
 "IRBContactViewModel": {
  "required": [],
  "properties": {
   "site1": {
    "$ref": "IRBSitePreviewModel"
   },
   "site2": {
    "$ref": "IRBSitePreviewModel"
   },
   "reference": {
    "type": "string",
    "maxLength": 50
   },
   "comment": {
    "type": "string",
    "maxLength": 500
   }
  }
 },
 "IRBSitePreviewModel": {
  "required": [
   "id",
   "name"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string",
    "maxLength": 50
   },
   "registrationNumber": {
    "type": "string",
    "maxLength": 100
   },
   "registrationExpiration": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "ImmunizationTypeViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "InstanceDetails": {
  "required": [],
  "properties": {
   "instanceUID": {
    "type": "string"
   },
   "instanceType": {
    "type": "string",
    "enum": [
     "CC",
     "CCE",
     "CCS"
    ]
   },
   "customerUID": {
    "type": "string"
   },
   "webVersion": {
    "type": "string"
   },
   "dbVersion": {
    "$ref": "DBVersion"
   },
   "pubSub": {
    "$ref": "PubSubDetails"
   }
  }
 },
 "InsuranceAccount": {
  "required": [],
  "properties": {
   "name": {
    "type": "string",
    "maxLength": 50
   },
   "account": {
    "type": "string",
    "maxLength": 50
   }
  }
 },
 "InvoiceDetailViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string"
   },
   "invoiceName": {
    "type": "string"
   },
   "invoiceDate": {
    "type": "string",
    "format": "date-time"
   },
   "invoiceType": {
    "type": "string",
    "enum": [
     "None",
     "Sponsor",
     "CRO",
     "Grant",
     "Facility",
     "Customer"
    ]
   },
   "invoiceAmount": {
    "type": "number",
    "format": "double"
   },
   "currency": {
    "type": "string"
   },
   "recipient": {
    "$ref": "ContactViewModel"
   },
   "study": {
    "$ref": "InvoiceStudyViewModel"
   },
   "lineItems": {
    "type": "array",
    "items": {
     "$ref": "LineItemViewModel"
    }
   }
  }
 },
 "InvoiceStudyViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "LabContactViewModel": {
  "required": [],
  "properties": {
   "lab1": {
    "$ref": "LabPreviewModel"
   },
   "lab2": {
    "$ref": "LabPreviewModel"
   }
  }
 },
 "LabPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "LineItemMetadataViewModel": {
  "required": [],
  "properties": {
   "screeningNumber": {
    "type": "string"
   },
   "randomizationNumber": {
    "type": "string"
   },
   "subjectId": {
    "type": "integer",
    "format": "int32"
   },
   "patientId": {
    "type": "integer",
    "format": "int32"
   },
   "budgetCode": {
    "type": "string"
   },
   "budgetType": {
    "type": "string"
   },
   "payeeId": {
    "type": "integer",
    "format": "int32"
   },
   "payeeType": {
    "type": "string",
    "enum": [
     "Unknown",
     "Staff",
     "Patient",
     "Vendor",
     "Lab",
     "Resource",
     "Sponsor",
     "Study",
     "Site",
     "Facility",
     "CRO",
     "IRB",
     "Monitor"
    ]
   },
   "fixedBudgetItemId": {
    "type": "integer",
    "format": "int32"
   },
   "expenditureId": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "LineItemViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "invoiceItemUID": {
    "type": "string"
   },
   "activityId": {
    "type": "integer",
    "format": "int32"
   },
   "activity": {
    "type": "string"
   },
   "accrualType": {
    "type": "string"
   },
   "accrualDate": {
    "type": "string",
    "format": "date-time"
   },
   "balanceDue": {
    "type": "number",
    "format": "double"
   },
   "amount": {
    "type": "number",
    "format": "double"
   },
   "metadata": {
    "$ref": "LineItemMetadataViewModel"
   }
  }
 },
 "MedicationRouteViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "MedicationScheduleViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "MedicationTypeViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   }
  }
 },
 "MedicationViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "MilestoneScheduleViewModel": {
  "required": [
   "schedulingMode"
  ],
  "properties": {
   "reference": {
    "$ref": "ReferencePreviewModel"
   },
   "schedulingMode": {
    "type": "string",
    "enum": [
     "FixedDate",
     "RelativeToMilestone"
    ]
   },
   "dueDate": {
    "type": "string",
    "format": "date-time"
   },
   "offset": {
    "type": "integer",
    "format": "int32"
   },
   "offsetUnits": {
    "type": "string",
    "enum": [
     "Days",
     "Weeks",
     "Months"
    ]
   },
   "windowMax": {
    "type": "integer",
    "format": "int32"
   },
   "windowMin": {
    "type": "integer",
    "format": "int32"
   },
   "windowUnits": {
    "type": "string",
    "enum": [
     "Days",
     "Weeks",
     "Months"
    ]
   }
  }
 },
 "MonitorContactViewModel": {
  "required": [],
  "properties": {
   "monitor1": {
    "$ref": "MonitorPreviewModel"
   },
   "monitor2": {
    "$ref": "MonitorPreviewModel"
   }
  }
 },
 "MonitorPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "firstName": {
    "type": "string"
   },
   "lastName": {
    "type": "string"
   },
   "displayName": {
    "type": "string"
   }
  }
 },
 "MonitorQueryPreviewModel": {
  "required": [],
  "properties": {
   "responseCount": {
    "type": "integer",
    "format": "int32"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "query": {
    "type": "string",
    "maxLength": 500
   },
   "status": {
    "$ref": "MonitorQueryStatusPreviewModel"
   },
   "reason": {
    "$ref": "MonitorQueryReasonPreviewModel"
   },
   "monitorVisit": {
    "$ref": "MonitorVisitPreviewModel"
   },
   "qualification": {
    "$ref": "MonitorVisitQualificationPreviewModel"
   },
   "requestedByStaff": {
    "$ref": "StaffPreviewModel"
   },
   "assignedToMonitor": {
    "$ref": "MonitorPreviewModel"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "createdOn": {
    "type": "string",
    "format": "date-time"
   },
   "closedOn": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "MonitorQueryReasonPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "MonitorQueryStatusPreviewModel": {
  "required": [],
  "properties": {
   "queryStatus": {
    "type": "string",
    "enum": [
     "New",
     "Answered",
     "Reissued",
     "Resolved",
     "Waived",
     "Cancelled"
    ]
   },
   "displayName": {
    "type": "string"
   },
   "sortOrder": {
    "type": "integer",
    "format": "int32"
   },
   "isConsideredOpen": {
    "type": "boolean"
   },
   "canSetByPortalUser": {
    "type": "boolean"
   }
  }
 },
 "MonitorVisitPlanPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "MonitorVisitPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "engagement": {
    "$ref": "EngagementPreviewModel"
   },
   "engagementSite": {
    "$ref": "SitePreviewModel"
   },
   "visitPlan": {
    "$ref": "MonitorVisitPlanPreviewModel"
   }
  }
 },
 "MonitorVisitQualificationPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "question": {
    "type": "string"
   }
  }
 },
 "NoteViewModel": {
  "required": [
   "date",
   "note"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "staff": {
    "$ref": "StaffPreviewModel"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "note": {
    "type": "string"
   }
  }
 },
 "OrganizationPreviewModel": {
  "required": [],
  "properties": {
   "Id": {
    "type": "integer",
    "format": "int32"
   },
   "Name": {
    "type": "string"
   }
  }
 },
 "PatientAllergiesViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "reaction": {
    "type": "string",
    "maxLength": 100
   },
   "comment": {
    "type": "string",
    "maxLength": 50
   },
   "startDate": {
    "type": "string",
    "format": "date-time"
   },
   "endDate": {
    "type": "string",
    "format": "date-time"
   },
   "allergy": {
    "$ref": "PatientAllergyViewModel"
   }
  }
 },
 "PatientAllergyViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "PatientConditionViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "startDate": {
    "type": "string",
    "format": "date-time"
   },
   "endDate": {
    "type": "string",
    "format": "date-time"
   },
   "ageAtOnset": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   },
   "condition": {
    "$ref": "ConditionPreviewViewModel"
   }
  }
 },
 "PatientCustomFieldModel": {
  "required": [
   "name",
   "value"
  ],
  "properties": {
   "name": {
    "type": "string",
    "maxLength": 200
   },
   "value": {
    "type": "string",
    "maxLength": 1000
   },
   "valueDate": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "PatientDemographicsViewModel": {
  "required": [],
  "properties": {
   "firstName": {
    "type": "string"
   },
   "middleName": {
    "type": "string"
   },
   "lastName": {
    "type": "string"
   },
   "title": {
    "type": "string"
   },
   "genderCode": {
    "type": "string",
    "maxLength": 2
   },
   "race": {
    "type": "string",
    "maxLength": 50
   },
   "ethnicity": {
    "type": "string",
    "maxLength": 50
   },
   "dateOfBirth": {
    "type": "string",
    "format": "date-time"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "PatientEmail": {
  "required": [],
  "properties": {
   "email": {
    "type": "string",
    "maxLength": 200
   },
   "doNotEmail": {
    "type": "boolean"
   }
  }
 },
 "PatientFamilyHistoryViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "relationName": {
    "type": "string",
    "maxLength": 25
   },
   "ageAtOnset": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   },
   "startDate": {
    "type": "string",
    "format": "date-time"
   },
   "endDate": {
    "type": "string",
    "format": "date-time"
   },
   "relation": {
    "$ref": "RelationViewModel"
   },
   "condition": {
    "$ref": "ConditionPreviewViewModel"
   }
  }
 },
 "PatientImmunizationViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   },
   "location": {
    "type": "string"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "immunizationType": {
    "$ref": "ImmunizationTypeViewModel"
   }
  }
 },
 "PatientLifeStylesHistoryViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "comment": {
    "type": "string"
   },
   "socialHistory": {
    "$ref": "PatientSocialHistoryViewModel"
   }
  }
 },
 "PatientMedicalDeviceViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "comment": {
    "type": "string"
   },
   "device": {
    "$ref": "DeviceViewModel"
   }
  }
 },
 "PatientMedicationViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "dosage": {
    "type": "string"
   },
   "startDate": {
    "type": "string",
    "format": "date-time"
   },
   "endDate": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string"
   },
   "medication": {
    "$ref": "MedicationViewModel"
   },
   "route": {
    "$ref": "MedicationRouteViewModel"
   },
   "conditions": {
    "type": "array",
    "items": {
     "$ref": "ConditionPreviewViewModel"
    }
   }
  }
 },
 "PatientPaymentViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "patientVisitId": {
    "type": "integer",
    "format": "int32"
   },
   "patientStudyId": {
    "type": "integer",
    "format": "int32"
   },
   "patientStudyStatus": {
    "type": "string",
    "enum": [
     "Unknown",
     "Prescreened",
     "Screened",
     "Randomized",
     "Dropped",
     "Completed",
     "ScreenFailed",
     "NonQualified",
     "RunIn",
     "RunInFailed",
     "FollowUp"
    ]
   },
   "paymentMethod": {
    "type": "string",
    "enum": [
     "Check",
     "Cash",
     "PaymentCard"
    ]
   },
   "stipendType": {
    "type": "string",
    "enum": [
     "Visit",
     "Travel",
     "Caregiver",
     "Manual"
    ]
   },
   "amount": {
    "type": "number",
    "format": "double"
   },
   "paymentOn": {
    "type": "string",
    "format": "date-time"
   },
   "paymentBy": {
    "$ref": "StaffPreviewModel"
   },
   "checkNumber": {
    "type": "string"
   },
   "transactionId": {
    "type": "string"
   }
  }
 },
 "PatientPhoneViewModel": {
  "required": [],
  "properties": {
   "rawNumber": {
    "type": "string"
   },
   "number": {
    "type": "string",
    "maxLength": 50
   },
   "outOfService": {
    "type": "boolean"
   }
  }
 },
 "PatientPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "PatientProcedureViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   },
   "cptCode": {
    "type": "string"
   },
   "procedureBy": {
    "type": "string"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "PatientProviderViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "comment": {
    "type": "string"
   },
   "startDate": {
    "type": "string",
    "format": "date-time"
   },
   "endDate": {
    "type": "string",
    "format": "date-time"
   },
   "provider": {
    "$ref": "ProviderViewModel"
   }
  }
 },
 "PatientSocialHistoryViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "category": {
    "$ref": "ConditionTypeViewModel"
   }
  }
 },
 "PatientViewModel": {
  "required": [
   "firstName",
   "lastName"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "primarySite": {
    "$ref": "SitePreviewModel"
   },
   "displayName": {
    "type": "string"
   },
   "status": {
    "type": "string",
    "enum": [
     "Active",
     "Inactive",
     "OnHold",
     "Deceased",
     "Ineligible"
    ]
   },
   "statusReason": {
    "type": "string"
   },
   "phone1": {
    "$ref": "PatientPhoneViewModel"
   },
   "phone2": {
    "$ref": "PatientPhoneViewModel"
   },
   "phone3": {
    "$ref": "PatientPhoneViewModel"
   },
   "phone4": {
    "$ref": "PatientPhoneViewModel"
   },
   "activeStudies": {
    "type": "array",
    "items": {
     "$ref": "StudyPreviewModel"
    }
   },
   "customFields": {
    "type": "array",
    "items": {
     "$ref": "PatientCustomFieldModel"
    }
   },
   "firstName": {
    "type": "string",
    "maxLength": 50
   },
   "middleName": {
    "type": "string",
    "maxLength": 50
   },
   "lastName": {
    "type": "string",
    "maxLength": 50
   },
   "phoneticName": {
    "type": "string",
    "maxLength": 50
   },
   "preferredName": {
    "type": "string",
    "maxLength": 50
   },
   "title": {
    "type": "string",
    "maxLength": 50
   },
   "primaryEmail": {
    "$ref": "PatientEmail"
   },
   "secondaryEmail": {
    "$ref": "PatientEmail"
   },
   "country": {
    "type": "string",
    "maxLength": 50
   },
   "address1": {
    "type": "string",
    "maxLength": 200
   },
   "address2": {
    "type": "string",
    "maxLength": 200
   },
   "address3": {
    "type": "string",
    "maxLength": 200
   },
   "city": {
    "type": "string",
    "maxLength": 200
   },
   "state": {
    "type": "string",
    "maxLength": 25
   },
   "zip": {
    "type": "string",
    "maxLength": 25
   },
   "doNotMail": {
    "type": "boolean"
   },
   "recruitmentTextOptIn": {
    "type": "boolean"
   },
   "phoneTypeToText": {
    "type": "string",
    "enum": [
     "None",
     "Phone1",
     "Phone2",
     "Phone3",
     "Phone4"
    ]
   },
   "fax": {
    "type": "string",
    "maxLength": 50
   },
   "dateOfBirth": {
    "type": "string",
    "format": "date-time"
   },
   "dateOfDeath": {
    "type": "string",
    "format": "date-time"
   },
   "genderCode": {
    "type": "string",
    "maxLength": 2
   },
   "race": {
    "type": "string",
    "maxLength": 50
   },
   "ethnicity": {
    "type": "string",
    "maxLength": 50
   },
   "nativeLanguage": {
    "type": "string",
    "maxLength": 50
   },
   "maritalStatus": {
    "type": "string",
    "maxLength": 50
   },
   "weight": {
    "$ref": "Weight"
   },
   "height": {
    "$ref": "Height"
   },
   "ssn": {
    "type": "string",
    "maxLength": 50
   },
   "mrn": {
    "type": "string",
    "maxLength": 50
   },
   "importId": {
    "type": "integer",
    "format": "int64"
   },
   "importSourceId": {
    "type": "string",
    "maxLength": 50
   },
   "importPatientId": {
    "type": "string",
    "maxLength": 50
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "primaryInsurance": {
    "$ref": "InsuranceAccount"
   },
   "secondaryInsurance": {
    "$ref": "InsuranceAccount"
   },
   "managedMedicare": {
    "type": "boolean"
   },
   "guardian": {
    "$ref": "Guardian"
   },
   "caregiverId": {
    "type": "integer",
    "format": "int32"
   },
   "caregiver": {
    "type": "boolean"
   }
  }
 },
 "PatientVisitElementPreview": {
  "required": [],
  "properties": {
   "sequence": {
    "type": "integer",
    "format": "int32"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "elementId": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "durationMinutes": {
    "type": "integer",
    "format": "int32"
   },
   "required": {
    "type": "boolean"
   },
   "completedOn": {
    "type": "string",
    "format": "date-time"
   },
   "repeatable": {
    "type": "boolean"
   },
   "isRepeatedElement": {
    "type": "boolean"
   }
  }
 },
 "PatientVisitPreview": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "sequence": {
    "type": "integer",
    "format": "int32"
   },
   "visitId": {
    "type": "integer",
    "format": "int32"
   },
   "visitName": {
    "type": "string"
   },
   "cycleName": {
    "type": "string"
   },
   "mandatory": {
    "type": "boolean"
   },
   "status": {
    "type": "string",
    "enum": [
     "Unknown",
     "Pending",
     "Completed",
     "Started"
    ]
   },
   "targetDueDate": {
    "type": "string",
    "format": "date-time"
   },
   "minDueDate": {
    "type": "string",
    "format": "date-time"
   },
   "maxDueDate": {
    "type": "string",
    "format": "date-time"
   },
   "appointments": {
    "type": "array",
    "items": {
     "$ref": "AppointmentPreview"
    }
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "subject": {
    "$ref": "SubjectPreviewModel"
   }
  }
 },
 "ProtocolVersionPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "ProtocolVersionViewModel": {
  "required": [
   "name",
   "date",
   "treatmentStatus",
   "status",
   "isPatientReconsentRequired"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "name": {
    "type": "string",
    "maxLength": 50
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "treatmentStatus": {
    "type": "string",
    "maxLength": 50
   },
   "status": {
    "type": "string",
    "maxLength": 50
   },
   "importId": {
    "type": "string",
    "maxLength": 50
   },
   "importType": {
    "type": "string",
    "maxLength": 50
   },
   "protocolNumber": {
    "type": "string",
    "maxLength": 50
   },
   "comment": {
    "type": "string",
    "maxLength": 500
   },
   "irbApprovalDate": {
    "type": "string",
    "format": "date-time"
   },
   "isPatientReconsentRequired": {
    "type": "boolean"
   }
  }
 },
 "ProviderModel": {
  "required": [],
  "properties": {
   "address1": {
    "type": "string"
   },
   "address2": {
    "type": "string"
   },
   "city": {
    "type": "string"
   },
   "state": {
    "type": "string"
   },
   "zip": {
    "type": "string"
   },
   "country": {
    "type": "string"
   },
   "primaryPhone": {
    "type": "string"
   },
   "secondaryPhone": {
    "type": "string"
   },
   "primaryEmail": {
    "type": "string"
   },
   "secondaryEmail": {
    "type": "string"
   },
   "business": {
    "type": "boolean"
   },
   "providerType": {
    "$ref": "ProviderTypeModel"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "providerName": {
    "type": "string"
   },
   "title": {
    "type": "string"
   },
   "firstName": {
    "type": "string"
   },
   "middleName": {
    "type": "string"
   },
   "lastName": {
    "type": "string"
   }
  }
 },
 "ProviderTypeModel": {
  "required": [],
  "properties": {
   "description": {
    "type": "string"
   },
   "primaryCarePhysician": {
    "type": "boolean"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "ProviderTypeViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "ProviderViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "providerName": {
    "type": "string"
   },
   "title": {
    "type": "string"
   },
   "firstName": {
    "type": "string"
   },
   "middleName": {
    "type": "string"
   },
   "lastName": {
    "type": "string"
   },
   "providerType": {
    "$ref": "ProviderTypeViewModel"
   }
  }
 },
 "PubSubDetails": {
  "required": [],
  "properties": {
   "enabled": {
    "type": "boolean"
   },
   "environment": {
    "type": "string"
   },
   "pubSubId": {
    "type": "string"
   }
  }
 },
 "ReasonViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "RecruitmentProspectViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "firstName": {
    "type": "string",
    "maxLength": 50
   },
   "middleName": {
    "type": "string",
    "maxLength": 50
   },
   "lastName": {
    "type": "string",
    "maxLength": 50
   },
   "address1": {
    "type": "string",
    "maxLength": 50
   },
   "address2": {
    "type": "string",
    "maxLength": 50
   },
   "address3": {
    "type": "string",
    "maxLength": 50
   },
   "state": {
    "type": "string",
    "maxLength": 50
   },
   "city": {
    "type": "string",
    "maxLength": 50
   },
   "zip": {
    "type": "string",
    "maxLength": 50
   },
   "country": {
    "type": "string",
    "maxLength": 50
   },
   "phone": {
    "type": "string",
    "maxLength": 50
   },
   "email": {
    "type": "string",
    "maxLength": 50
   },
   "age": {
    "type": "string",
    "maxLength": 50
   },
   "dateOfBirth": {
    "type": "string",
    "maxLength": 50
   },
   "gender": {
    "type": "string",
    "maxLength": 50
   },
   "height": {
    "type": "string",
    "maxLength": 50
   },
   "weight": {
    "type": "string",
    "maxLength": 50
   },
   "comments": {
    "type": "string",
    "maxLength": 500
   }
  }
 },
 "ReferencePreviewModel": {
  "required": [],
  "properties": {
   "Type": {
    "type": "string",
    "enum": [
     "Milestone",
     "Action"
    ]
   },
   "Id": {
    "type": "integer",
    "format": "int32"
   },
   "Name": {
    "type": "string"
   }
  }
 },
 "ReferralTouchViewModel": {
  "required": [
   "date",
   "referralType",
   "referrerName"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string",
    "maxLength": 100
   },
   "referralType": {
    "type": "string",
    "maxLength": 25
   },
   "referrerName": {
    "type": "string",
    "maxLength": 25
   }
  }
 },
 "RelationViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "RemoteLinkViewModel": {
  "required": [],
  "properties": {
   "cceSiteID": {
    "type": "integer",
    "format": "int32"
   },
   "ccsSiteID": {
    "type": "integer",
    "format": "int32"
   },
   "instanceUID": {
    "type": "string"
   },
   "siteUID": {
    "type": "string"
   },
   "aliasSiteUID": {
    "type": "string"
   }
  }
 },
 "Role": {
  "required": [],
  "properties": {
   "Id": {
    "type": "integer",
    "format": "int32"
   },
   "RoleName": {
    "type": "string"
   },
   "Coordinator": {
    "type": "boolean"
   }
  }
 },
 "RoleStaff": {
  "required": [],
  "properties": {
   "Role": {
    "$ref": "Role"
   },
   "Staff": {
    "type": "array",
    "items": {
     "$ref": "StaffResource"
    }
   }
  }
 },
 "RoomAssignment": {
  "required": [
   "type"
  ],
  "properties": {
   "name": {
    "type": "string"
   },
   "type": {
    "type": "string",
    "enum": [
     "NoRoom",
     "AnyRoom",
     "RoomGroup",
     "Room"
    ]
   },
   "id": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "RoomGroupViewModel": {
  "required": [
   "name"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "site": {
    "$ref": "SitePreviewModel"
   },
   "roomCount": {
    "type": "integer",
    "format": "int32"
   },
   "elementCount": {
    "type": "integer",
    "format": "int32"
   },
   "rooms": {
    "type": "array",
    "items": {
     "$ref": "RoomPreviewModel"
    }
   },
   "description": {
    "type": "string",
    "maxLength": 100
   },
   "name": {
    "type": "string",
    "maxLength": 100
   }
  }
 },
 "RoomPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "active": {
    "type": "boolean"
   }
  }
 },
 "RoomViewModel": {
  "required": [
   "active",
   "name",
   "isTreatmentRoom"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "defaultSchedule": {
    "$ref": "SchedulePreviewModel"
   },
   "site": {
    "$ref": "SitePreviewModel"
   },
   "status": {
    "type": "string"
   },
   "elementCount": {
    "type": "integer",
    "format": "int32"
   },
   "appointmentCount": {
    "type": "integer",
    "format": "int32"
   },
   "active": {
    "type": "boolean"
   },
   "isConferenceRoom": {
    "type": "boolean"
   },
   "description": {
    "type": "string",
    "maxLength": 100
   },
   "name": {
    "type": "string",
    "maxLength": 50
   },
   "isTreatmentRoom": {
    "type": "boolean"
   }
  }
 },
 "SchedulePreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "ScheduleViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   },
   "active": {
    "type": "boolean"
   }
  }
 },
 "SiteModel": {
  "required": [
   "name",
   "country",
   "timeZone",
   "observesDST",
   "organization"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string",
    "maxLength": 200
   },
   "active": {
    "type": "boolean"
   },
   "description": {
    "type": "string",
    "maxLength": 250
   },
   "alternateName": {
    "type": "string",
    "maxLength": 50
   },
   "address1": {
    "type": "string",
    "maxLength": 200
   },
   "address2": {
    "type": "string",
    "maxLength": 200
   },
   "address3": {
    "type": "string",
    "maxLength": 200
   },
   "city": {
    "type": "string",
    "maxLength": 200
   },
   "state": {
    "type": "string",
    "maxLength": 200
   },
   "country": {
    "type": "string",
    "maxLength": 50
   },
   "zip": {
    "type": "string",
    "maxLength": 10
   },
   "primaryPhone": {
    "type": "string",
    "maxLength": 25
   },
   "secondaryPhone": {
    "type": "string",
    "maxLength": 25
   },
   "primaryEmail": {
    "type": "string",
    "maxLength": 50
   },
   "secondaryEmail": {
    "type": "string",
    "maxLength": 50
   },
   "url": {
    "type": "string",
    "maxLength": 200
   },
   "timeZone": {
    "type": "string",
    "maxLength": 50
   },
   "observesDST": {
    "type": "boolean"
   },
   "organization": {
    "type": "string",
    "maxLength": 200
   },
   "importSourceID": {
    "type": "string",
    "maxLength": 50
   },
   "createdOn": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "SitePaymentCheckRequestPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "SitePaymentViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "site": {
    "$ref": "SitePreviewModel"
   },
   "locked": {
    "type": "boolean"
   },
   "amount": {
    "type": "number",
    "format": "double"
   },
   "createdOn": {
    "type": "string",
    "format": "date-time"
   },
   "referenceNumber": {
    "type": "string"
   },
   "approvedOn": {
    "type": "string",
    "format": "date-time"
   },
   "approvedBy": {
    "$ref": "StaffPreviewModel"
   },
   "checkRequest": {
    "$ref": "SitePaymentCheckRequestPreviewModel"
   },
   "checkNumber": {
    "type": "string"
   },
   "paymentDate": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string"
   }
  }
 },
 "SitePreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "SiteViewModel": {
  "required": [],
  "properties": {
   "siteID": {
    "type": "integer",
    "format": "int32"
   },
   "siteUID": {
    "type": "string"
   }
  }
 },
 "SponsorDivisionPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "SponsorDivisionViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "sponsor": {
    "$ref": "SponsorPreviewModel"
   },
   "teams": {
    "type": "array",
    "items": {
     "$ref": "SponsorTeamPreviewModel"
    }
   },
   "url": {
    "type": "string"
   },
   "primaryEmail": {
    "type": "string"
   },
   "secondaryEmail": {
    "type": "string"
   },
   "primaryPhone": {
    "type": "string"
   },
   "secondaryPhone": {
    "type": "string"
   },
   "fax": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   }
  }
 },
 "SponsorPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "SponsorTeamMemberPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "role": {
    "type": "string"
   }
  }
 },
 "SponsorTeamPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "SponsorTeamViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "sponsor": {
    "$ref": "SponsorPreviewModel"
   },
   "sponsorDivision": {
    "$ref": "SponsorDivisionPreviewModel"
   },
   "teamMembers": {
    "type": "array",
    "items": {
     "$ref": "SponsorTeamMemberPreviewModel"
    }
   },
   "url": {
    "type": "string"
   },
   "primaryEmail": {
    "type": "string"
   },
   "secondaryEmail": {
    "type": "string"
   },
   "primaryPhone": {
    "type": "string"
   },
   "secondaryPhone": {
    "type": "string"
   },
   "fax": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   }
  }
 },
 "SponsorViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "sponsorDivisions": {
    "type": "array",
    "items": {
     "$ref": "SponsorDivisionPreviewModel"
    }
   },
   "url": {
    "type": "string"
   },
   "primaryEmail": {
    "type": "string"
   },
   "secondaryEmail": {
    "type": "string"
   },
   "primaryPhone": {
    "type": "string"
   },
   "secondaryPhone": {
    "type": "string"
   },
   "fax": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   }
  }
 },
 "StaffPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "login": {
    "type": "string"
   },
   "firstName": {
    "type": "string"
   },
   "lastName": {
    "type": "string"
   },
   "displayName": {
    "type": "string"
   }
  }
 },
 "StaffResource": {
  "required": [],
  "properties": {
   "Id": {
    "type": "integer",
    "format": "int32"
   },
   "UID": {
    "type": "string",
    "format": "uuid"
   },
   "LastName": {
    "type": "string"
   },
   "FirstName": {
    "type": "string"
   },
   "MiddleName": {
    "type": "string"
   },
   "FullName": {
    "type": "string"
   },
   "Priority": {
    "type": "integer",
    "format": "int32"
   },
   "Username": {
    "type": "string"
   }
  }
 },
 "StaffRolePreviewModel": {
  "required": [],
  "properties": {
   "siteId": {
    "type": "integer",
    "format": "int32"
   },
   "siteUid": {
    "type": "string",
    "format": "uuid"
   },
   "siteName": {
    "type": "string"
   },
   "roleId": {
    "type": "integer",
    "format": "int32"
   },
   "roleName": {
    "type": "string"
   },
   "principalInvestigator": {
    "type": "boolean"
   },
   "subInvestigator": {
    "type": "boolean"
   }
  }
 },
 "StaffViewModel": {
  "required": [
   "firstName",
   "lastName",
   "isStatusActive",
   "profession",
   "login",
   "isStaffExternal"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "displayName": {
    "type": "string"
   },
   "staffRoles": {
    "type": "array",
    "items": {
     "$ref": "StaffRolePreviewModel"
    }
   },
   "firstName": {
    "type": "string",
    "maxLength": 200
   },
   "lastName": {
    "type": "string",
    "maxLength": 50
   },
   "isStatusActive": {
    "type": "boolean"
   },
   "profession": {
    "type": "string",
    "maxLength": 50
   },
   "login": {
    "type": "string",
    "maxLength": 254
   },
   "email": {
    "type": "string",
    "maxLength": 200
   },
   "isStaffExternal": {
    "type": "boolean"
   }
  }
 },
 "StudyAllocationsViewModel": {
  "required": [],
  "properties": {
   "StudyName": {
    "type": "string"
   },
   "StudyId": {
    "type": "integer",
    "format": "int32"
   },
   "Amount": {
    "type": "number",
    "format": "double"
   }
  }
 },
 "StudyArmPreviewModel": {
  "required": [],
  "properties": {
   "Id": {
    "type": "integer",
    "format": "int32"
   },
   "Uid": {
    "type": "string",
    "format": "uuid"
   },
   "Name": {
    "type": "string"
   }
  }
 },
 "StudyCategoryViewModel": {
  "required": [
   "name",
   "description"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string",
    "maxLength": 50
   },
   "description": {
    "type": "string",
    "maxLength": 250
   }
  }
 },
 "StudyContactViewModel": {
  "required": [],
  "properties": {
   "irbContact": {
    "$ref": "IRBContactViewModel"
   },
   "croContact": {
    "$ref": "CroContactViewModel"
   },
   "labContact": {
    "$ref": "LabContactViewModel"
   },
   "monitorContact": {
    "$ref": "MonitorContactViewModel"
   },
   "vendorContact": {
    "$ref": "VendorContactViewModel"
   },
   "correspondenceCount": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "StudyDocumentStatusViewModel": {
  "required": [
   "status",
   "date"
  ],
  "properties": {
   "updatedBy": {
    "$ref": "StaffPreviewModel"
   },
   "status": {
    "type": "string",
    "maxLength": 50
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string"
   },
   "backgroundColor": {
    "type": "string"
   }
  }
 },
 "StudyDocumentViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "type": {
    "$ref": "DocumentTypePreviewModel"
   },
   "status": {
    "$ref": "StudyDocumentStatusViewModel"
   },
   "description": {
    "type": "string"
   },
   "version": {
    "type": "string"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "source": {
    "type": "string"
   },
   "effectiveDate": {
    "type": "string",
    "format": "date-time"
   },
   "expirationDate": {
    "type": "string",
    "format": "date-time"
   },
   "storedDocumentId": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "StudyFinanceModel": {
  "required": [],
  "properties": {
   "financeType": {
    "type": "string",
    "maxLength": 50
   },
   "accountingCode1": {
    "type": "string",
    "maxLength": 20
   },
   "accountingCode2": {
    "type": "string",
    "maxLength": 20
   },
   "accountingCode3": {
    "type": "string",
    "maxLength": 20
   },
   "accountingCode4": {
    "type": "string",
    "maxLength": 20
   }
  }
 },
 "StudyIntegrationInfoViewModel": {
  "required": [],
  "properties": {
   "integrationSystem": {
    "type": "string",
    "enum": [
     "OmniComm",
     "OpenClinica",
     "CCeSource",
     "Crio",
     "AdvarraESource"
    ]
   }
  }
 },
 "StudyLeadSourceViewModel": {
  "required": [],
  "properties": {
   "staff": {
    "$ref": "StaffPreviewModel"
   },
   "source": {
    "type": "string",
    "maxLength": 50
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string",
    "maxLength": 200
   }
  }
 },
 "StudyLeaderViewModel": {
  "required": [
   "id"
  ],
  "properties": {
   "name": {
    "type": "string"
   },
   "required": {
    "type": "boolean"
   },
   "staff": {
    "$ref": "StaffPreviewModel"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   }
  }
 },
 "StudyMilestoneViewModel": {
  "required": [
   "name",
   "category",
   "importance",
   "status"
  ],
  "properties": {
   "hasAutoExpenditure": {
    "type": "boolean"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "assignedTo": {
    "$ref": "StaffPreviewModel"
   },
   "scheduling": {
    "$ref": "MilestoneScheduleViewModel"
   },
   "name": {
    "type": "string"
   },
   "category": {
    "type": "string"
   },
   "importance": {
    "type": "string"
   },
   "status": {
    "type": "string"
   },
   "comment": {
    "type": "string"
   },
   "completedOn": {
    "type": "string",
    "format": "date-time"
   },
   "assignedOn": {
    "type": "string",
    "format": "date-time"
   },
   "projectedDate": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "StudyNoteViewModel": {
  "required": [
   "date",
   "note"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "staff": {
    "$ref": "StaffPreviewModel"
   },
   "lastUpdatedStaff": {
    "$ref": "StaffPreviewModel"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   },
   "note": {
    "type": "string"
   },
   "locked": {
    "type": "boolean"
   },
   "shared": {
    "type": "boolean"
   }
  }
 },
 "StudyOpportunityModel": {
  "required": [],
  "properties": {
   "opportunityLevel": {
    "type": "string"
   },
   "probability": {
    "type": "number",
    "format": "double"
   },
   "expectedDate": {
    "type": "string",
    "format": "date-time"
   },
   "expectedNumberOfSites": {
    "type": "integer",
    "format": "int32"
   },
   "comment": {
    "type": "string"
   }
  }
 },
 "StudyPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "StudyRoleStaffViewModel": {
  "required": [],
  "properties": {
   "staff": {
    "$ref": "StaffPreviewModel"
   },
   "priority": {
    "type": "string",
    "enum": [
     "Primary",
     "Secondary",
     "Backup"
    ]
   }
  }
 },
 "StudyRoleViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "isCoordinator": {
    "type": "boolean"
   },
   "allowRoleSharing": {
    "type": "boolean"
   },
   "restrictReassignment": {
    "type": "boolean"
   },
   "staff": {
    "type": "array",
    "items": {
     "$ref": "StudyRoleStaffViewModel"
    }
   }
  }
 },
 "StudyStatusTypeViewModel": {
  "required": [],
  "properties": {
   "lossReasons": {
    "type": "array",
    "items": {
     "$ref": "ReasonViewModel"
    }
   },
   "winReasons": {
    "type": "array",
    "items": {
     "$ref": "ReasonViewModel"
    }
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   },
   "backColor": {
    "type": "string"
   },
   "isActive": {
    "type": "boolean"
   },
   "isEnrollmentPermitted": {
    "type": "boolean"
   },
   "studyPhase": {
    "type": "string",
    "enum": [
     "None",
     "PreStudy",
     "InStudy",
     "PostStudy"
    ]
   }
  }
 },
 "StudySubcategoryViewModel": {
  "required": [
   "name",
   "description"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string",
    "maxLength": 50
   },
   "description": {
    "type": "string",
    "maxLength": 250
   }
  }
 },
 "StudyTargetDateViewModel": {
  "required": [
   "id"
  ],
  "properties": {
   "name": {
    "type": "string"
   },
   "tooltip": {
    "type": "string"
   },
   "required": {
    "type": "boolean"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "date": {
    "type": "string",
    "format": "date-time"
   }
  }
 },
 "StudyViewModel": {
  "required": [
   "sponsor",
   "sponsorDivision",
   "sponsorTeam",
   "managingSite",
   "name",
   "status"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "sponsor": {
    "$ref": "SponsorPreviewModel"
   },
   "sponsorDivision": {
    "$ref": "SponsorDivisionPreviewModel"
   },
   "sponsorTeam": {
    "$ref": "SponsorTeamPreviewModel"
   },
   "managingSite": {
    "$ref": "SitePreviewModel"
   },
   "organization": {
    "$ref": "OrganizationPreviewModel"
   },
   "createdOn": {
    "type": "string",
    "format": "date-time"
   },
   "lastUpdatedOn": {
    "type": "string",
    "format": "date-time"
   },
   "studyTypes": {
    "type": "array",
    "items": {
     "type": "string"
    }
   },
   "studyGroups": {
    "type": "array",
    "items": {
     "type": "string"
    }
   },
   "studyGroup": {
    "type": "string"
   },
   "studyStatusBgColor": {
    "type": "string"
   },
   "studyCurrency": {
    "type": "string"
   },
   "contacts": {
    "$ref": "StudyContactViewModel"
   },
   "targetDates": {
    "type": "array",
    "items": {
     "$ref": "StudyTargetDateViewModel"
    }
   },
   "leadership": {
    "type": "array",
    "items": {
     "$ref": "StudyLeaderViewModel"
    }
   },
   "customFields": {
    "type": "array",
    "items": {
     "$ref": "CustomFieldModel"
    }
   },
   "studyLead": {
    "$ref": "StudyLeadSourceViewModel"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string",
    "maxLength": 100
   },
   "status": {
    "type": "string",
    "maxLength": 50
   },
   "category": {
    "type": "string",
    "maxLength": 50
   },
   "subcategory": {
    "type": "string",
    "maxLength": 50
   },
   "identifier": {
    "type": "string",
    "maxLength": 50
   },
   "indIdeNumber": {
    "type": "string",
    "maxLength": 50
   },
   "title": {
    "type": "string",
    "maxLength": 500
   },
   "protocolNumber": {
    "type": "string",
    "maxLength": 50
   },
   "phase": {
    "type": "string",
    "maxLength": 500
   },
   "nctNumber": {
    "type": "string",
    "maxLength": 50
   },
   "tag1": {
    "type": "string",
    "maxLength": 50
   },
   "tag2": {
    "type": "string",
    "maxLength": 50
   },
   "tag3": {
    "type": "string",
    "maxLength": 50
   },
   "tag4": {
    "type": "string",
    "maxLength": 50
   },
   "comment": {
    "type": "string",
    "maxLength": 500
   },
   "description": {
    "type": "string"
   },
   "launchYear": {
    "type": "integer",
    "format": "int32"
   },
   "finances": {
    "$ref": "StudyFinanceModel"
   },
   "opportunityDetails": {
    "$ref": "StudyOpportunityModel"
   },
   "enrollmentNote": {
    "type": "string",
    "maxLength": 250
   },
   "budgetNote": {
    "type": "string",
    "maxLength": 250
   },
   "regulatoryNote": {
    "type": "string",
    "maxLength": 250
   },
   "contractNote": {
    "type": "string",
    "maxLength": 250
   }
  }
 },
 "StudyWarningModel": {
  "required": [
   "type",
   "description"
  ],
  "properties": {
   "type": {
    "type": "string",
    "enum": [
     "Visit",
     "Element"
    ]
   },
   "description": {
    "type": "string"
   },
   "visit": {
    "$ref": "VisitPreviewModel"
   },
   "element": {
    "$ref": "ElementPreviewModel"
   }
  }
 },
 "SubjectPreviewModel": {
  "required": [],
  "properties": {
   "Id": {
    "type": "integer",
    "format": "int32"
   },
   "Uid": {
    "type": "string",
    "format": "uuid"
   },
   "Name": {
    "type": "string"
   }
  }
 },
 "SubjectStatusModel": {
  "required": [],
  "properties": {
   "status": {
    "type": "string",
    "enum": [
     "Prescreened",
     "Screened",
     "Randomized",
     "Dropped",
     "Completed",
     "ScreenFailed",
     "NonQualified",
     "RunIn",
     "RunInFailed",
     "FollowUp"
    ]
   },
   "isCurrentStatus": {
    "type": "boolean"
   },
   "eventDate": {
    "type": "string",
    "format": "date-time"
   },
   "comment": {
    "type": "string"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "site": {
    "$ref": "SitePreviewModel"
   },
   "subject": {
    "$ref": "SubjectPreviewModel"
   }
  }
 },
 "SubjectViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "site": {
    "$ref": "SitePreviewModel"
   },
   "patient": {
    "$ref": "PatientDemographicsViewModel"
   },
   "status": {
    "type": "string",
    "enum": [
     "Prescreened",
     "Screened",
     "Randomized",
     "Dropped",
     "Completed",
     "ScreenFailed",
     "NonQualified",
     "RunIn",
     "RunInFailed",
     "FollowUp"
    ]
   },
   "protocolVersion": {
    "$ref": "ProtocolVersionPreviewModel"
   },
   "genderCode": {
    "type": "string",
    "maxLength": 2
   },
   "race": {
    "type": "string",
    "maxLength": 50
   },
   "ethnicity": {
    "type": "string",
    "maxLength": 50
   },
   "arm": {
    "$ref": "StudyArmPreviewModel"
   },
   "importId": {
    "type": "string"
   },
   "tag": {
    "type": "string",
    "maxLength": 100
   },
   "facilityCode": {
    "type": "string",
    "maxLength": 50
   },
   "enrollmentDate": {
    "type": "string",
    "format": "date-time"
   },
   "enrollmentLocation": {
    "type": "string",
    "maxLength": 100
   },
   "screeningNumber": {
    "type": "string",
    "maxLength": 50
   },
   "randomizationNumber": {
    "type": "string",
    "maxLength": 50
   },
   "treatmentStatus": {
    "type": "string",
    "maxLength": 50
   },
   "treatmentStart": {
    "type": "string",
    "format": "date-time"
   },
   "narrative": {
    "type": "string"
   }
  }
 },
 "SysAllergenTypeViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "allergenTypeID": {
    "type": "string"
   },
   "description": {
    "type": "string"
   },
   "isDefault": {
    "type": "boolean"
   }
  }
 },
 "SysAllergyViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   },
   "allergen": {
    "$ref": "SysAllergenTypeViewModel"
   }
  }
 },
 "SysConditionTypeViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   }
  }
 },
 "SysConditionsViewModel": {
  "required": [],
  "properties": {
   "description": {
    "type": "string"
   },
   "genderCode": {
    "type": "string"
   },
   "childBearing": {
    "type": "boolean"
   },
   "category": {
    "$ref": "SysConditionTypeViewModel"
   },
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "icd10Code": {
    "type": "string"
   },
   "icd9Code": {
    "type": "string"
   }
  }
 },
 "SysDeviceModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "childBearing": {
    "type": "boolean"
   },
   "description": {
    "type": "string"
   },
   "type": {
    "$ref": "SysDeviceTypeModel"
   },
   "gender": {
    "$ref": "SysGenderViewModel"
   }
  }
 },
 "SysDeviceTypeModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   }
  }
 },
 "SysGenderViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "genderCode": {
    "type": "string"
   }
  }
 },
 "SysImmunizationModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   },
   "type": {
    "$ref": "SysImmunizationTypeModel"
   }
  }
 },
 "SysImmunizationTypeModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "description": {
    "type": "string"
   }
  }
 },
 "SysMedicationViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "childBearing": {
    "type": "boolean"
   },
   "description": {
    "type": "string"
   },
   "category": {
    "$ref": "MedicationTypeViewModel"
   },
   "gender": {
    "$ref": "SysGenderViewModel"
   },
   "defaultRoute": {
    "$ref": "MedicationRouteViewModel"
   },
   "defaultSchedule": {
    "$ref": "MedicationScheduleViewModel"
   }
  }
 },
 "SysProcedureModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "childBearing": {
    "type": "boolean"
   },
   "description": {
    "type": "string"
   },
   "cptCode": {
    "type": "string"
   },
   "standardTime": {
    "type": "integer",
    "format": "int32"
   },
   "gender": {
    "$ref": "SysGenderViewModel"
   },
   "provider": {
    "$ref": "SysProviderModel"
   }
  }
 },
 "SysProviderModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "providerName": {
    "type": "string"
   },
   "title": {
    "type": "string"
   },
   "firstName": {
    "type": "string"
   },
   "middleName": {
    "type": "string"
   },
   "lastName": {
    "type": "string"
   },
   "providerType": {
    "$ref": "SysProviderTypeModel"
   }
  }
 },
 "SysProviderTypeModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "SysSocialHistoryViewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   },
   "childBearing": {
    "type": "boolean"
   },
   "description": {
    "type": "string"
   },
   "category": {
    "$ref": "SysConditionTypeViewModel"
   },
   "gender": {
    "$ref": "SysGenderViewModel"
   }
  }
 },
 "VendorContactViewModel": {
  "required": [],
  "properties": {
   "vendor1": {
    "$ref": "VendorPreviewModel"
   },
   "vendor2": {
    "$ref": "VendorPreviewModel"
   }
  }
 },
 "VendorPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "VisitElementPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   },
   "sequence": {
    "type": "integer",
    "format": "int32"
   },
   "isRequired": {
    "type": "boolean"
   }
  }
 },
 "VisitElementRelationshipViewModel": {
  "required": [],
  "properties": {
   "visit": {
    "$ref": "VisitPreviewModel"
   },
   "element": {
    "$ref": "VisitElementPreviewModel"
   }
  }
 },
 "VisitPreviewModel": {
  "required": [],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "name": {
    "type": "string"
   }
  }
 },
 "VisitViewModel": {
  "required": [
   "name",
   "type",
   "isBudgetAutoRecomputed",
   "isCostAutoRecomputed",
   "isActive"
  ],
  "properties": {
   "id": {
    "type": "integer",
    "format": "int32"
   },
   "uid": {
    "type": "string",
    "format": "uuid"
   },
   "study": {
    "$ref": "StudyPreviewModel"
   },
   "protocolVersion": {
    "$ref": "ProtocolVersionPreviewModel"
   },
   "arms": {
    "type": "array",
    "items": {
     "$ref": "StudyArmPreviewModel"
    }
   },
   "name": {
    "type": "string",
    "maxLength": 200
   },
   "importId": {
    "type": "string",
    "maxLength": 50
   },
   "importType": {
    "type": "string",
    "maxLength": 50
   },
   "type": {
    "type": "string",
    "maxLength": 50
   },
   "reference": {
    "type": "string",
    "maxLength": 50
   },
   "optionalProcedure": {
    "type": "string",
    "maxLength": 50
   },
   "description": {
    "type": "string",
    "maxLength": 50
   },
   "budget": {
    "type": "number",
    "format": "double"
   },
   "cost": {
    "type": "number",
    "format": "double"
   },
   "isBudgetAutoRecomputed": {
    "type": "boolean"
   },
   "isCostAutoRecomputed": {
    "type": "boolean"
   },
   "patientStipend": {
    "type": "number",
    "format": "double"
   },
   "caregiverStipend": {
    "type": "number",
    "format": "double"
   },
   "isActive": {
    "type": "boolean"
   },
   "autoRepeat": {
    "type": "boolean"
   },
   "repeatOnDemand": {
    "type": "boolean"
   }
  }
 },
 "Weight": {
  "required": [],
  "properties": {
   "value": {
    "type": "number",
    "format": "double"
   },
   "unit": {
    "type": "string",
    "enum": [
     "lbs",
     "kgs"
    ]
   }
  }
 }
}
"""
)

# Swagger GET paths whose 200 response is a list (array or PageResultOf...).
SWAGGER_LIST_PATHS: tuple[str, ...] = (
    "/api/v1/appointments/odata",
    "/api/v1/elements/odata",
    "/api/v1/elements/{elementId}/visits/odata",
    "/api/v1/engagements",
    "/api/v1/engagements/odata",
    "/api/v1/finance/remittances/{remittanceId}/notes",
    "/api/v1/finance/remittances/{remittanceId}/notes/odata",
    "/api/v1/monitor-queries/odata",
    "/api/v1/monitor-visits/{monitorVisitId}/monitor-queries/odata",
    "/api/v1/monitors",
    "/api/v1/patient-visits/odata",
    "/api/v1/patient-visits/{patientVisitId}/elements",
    "/api/v1/patient-visits/{patientVisitId}/stipends",
    "/api/v1/patient-visits/{patientVisitId}/stipends/{paymentId}",
    "/api/v1/patients/odata",
    "/api/v1/patients/{id}/allergies",
    "/api/v1/patients/{id}/conditions",
    "/api/v1/patients/{id}/devices",
    "/api/v1/patients/{id}/family-history",
    "/api/v1/patients/{id}/immunizations",
    "/api/v1/patients/{id}/medications",
    "/api/v1/patients/{id}/procedures",
    "/api/v1/patients/{id}/providers",
    "/api/v1/patients/{id}/social-history",
    "/api/v1/patients/{id}/touches/campaign",
    "/api/v1/patients/{id}/touches/referral",
    "/api/v1/providers/odata",
    "/api/v1/room-groups",
    "/api/v1/room-groups/odata",
    "/api/v1/room-groups/{id}/potential-rooms",
    "/api/v1/room-groups/{id}/rooms",
    "/api/v1/rooms",
    "/api/v1/rooms/odata",
    "/api/v1/schedules/odata",
    "/api/v1/site-payments/check-requests/odata",
    "/api/v1/site-payments/check-requests/{requestId}/items",
    "/api/v1/site-payments/odata",
    "/api/v1/site-payments/{paymentId}/items",
    "/api/v1/sites",
    "/api/v1/sites/odata",
    "/api/v1/sites/{id}/rooms",
    "/api/v1/sponsor-divisions",
    "/api/v1/sponsor-divisions/odata",
    "/api/v1/sponsor-divisions/{divisionId}/sponsor-teams",
    "/api/v1/sponsor-divisions/{divisionId}/sponsor-teams/odata",
    "/api/v1/sponsor-teams",
    "/api/v1/sponsor-teams/odata",
    "/api/v1/sponsors",
    "/api/v1/sponsors/odata",
    "/api/v1/sponsors/{sponsorId}/sponsor-divisions",
    "/api/v1/sponsors/{sponsorId}/sponsor-divisions/odata",
    "/api/v1/sponsors/{sponsorId}/sponsor-divisions/{divisionId}/sponsor-teams",
    "/api/v1/sponsors/{sponsorId}/sponsor-divisions/{divisionId}/sponsor-teams/odata",
    "/api/v1/staff",
    "/api/v1/staff/odata",
    "/api/v1/studies",
    "/api/v1/studies/odata",
    "/api/v1/studies/{id}/personnel",
    "/api/v1/studies/{id}/warnings",
    "/api/v1/studies/{studyId}/actions",
    "/api/v1/studies/{studyId}/actions/odata",
    "/api/v1/studies/{studyId}/actions/{actionId}/unit-completions",
    "/api/v1/studies/{studyId}/arms",
    "/api/v1/studies/{studyId}/arms/{armId}/subjects/odata",
    "/api/v1/studies/{studyId}/arms/{armId}/visits",
    "/api/v1/studies/{studyId}/documents",
    "/api/v1/studies/{studyId}/documents/odata",
    "/api/v1/studies/{studyId}/documents/{id}/history",
    "/api/v1/studies/{studyId}/elements/odata",
    "/api/v1/studies/{studyId}/elements/{elementId}/visits/odata",
    "/api/v1/studies/{studyId}/engagements",
    "/api/v1/studies/{studyId}/milestones",
    "/api/v1/studies/{studyId}/milestones/odata",
    "/api/v1/studies/{studyId}/monitor-queries/odata",
    "/api/v1/studies/{studyId}/monitor-visits/{monitorVisitId}/monitor-queries/odata",
    "/api/v1/studies/{studyId}/notes",
    "/api/v1/studies/{studyId}/notes/odata",
    "/api/v1/studies/{studyId}/protocol-versions",
    "/api/v1/studies/{studyId}/roles",
    "/api/v1/studies/{studyId}/subjects/odata",
    "/api/v1/studies/{studyId}/subjects/{subjectId}/patient-visits",
    "/api/v1/studies/{studyId}/subjects/{subjectId}/patient-visits/{patientVisitId}/elements",
    "/api/v1/studies/{studyId}/visits/odata",
    "/api/v1/studies/{studyId}/visits/{visitId}/arms",
    "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata",
    "/api/v1/studies/{studyUid}/subject-statuses/odata",
    "/api/v1/subject-statuses/odata",
    "/api/v1/subjects/odata",
    "/api/v1/subjects/{subjectId}/patient-visits",
    "/api/v1/subjects/{subjectId}/patient-visits/{patientVisitId}/elements",
    "/api/v1/system/action-categories",
    "/api/v1/system/allergies/odata",
    "/api/v1/system/conditions/odata",
    "/api/v1/system/devices/odata",
    "/api/v1/system/document-statuses/{documentId}",
    "/api/v1/system/document-types",
    "/api/v1/system/immunizations/odata",
    "/api/v1/system/lookup-lists",
    "/api/v1/system/lookup-lists/{listName}",
    "/api/v1/system/medications/odata",
    "/api/v1/system/organizations",
    "/api/v1/system/patient-customfields",
    "/api/v1/system/procedures/odata",
    "/api/v1/system/social-history/odata",
    "/api/v1/system/study-categories",
    "/api/v1/system/study-customfields",
    "/api/v1/system/study-customfields/{id}/values",
    "/api/v1/system/study-groups",
    "/api/v1/system/study-statuses",
    "/api/v1/system/study-subcategories",
    "/api/v1/visits/odata",
    "/api/v1/visits/{visitId}/elements/odata",
    "/api/v2/patients/{id}/conditions",
    "/api/v2/patients/{id}/family-history",
)
