"""The example events of replaced-system.md §2.7, verbatim: what the emitter writes."""

TRANSCODE_FILE_KEY = "us-central/transcode/us-central-transcode-20251105T152058Z_20251105T152131Z.json"

TRANSCODE_FILE = b"""[
  {
    "DT": "2025-11-05T15:20:58Z",
    "EventType": "orchestrator-reset",
    "ID": "52eab22a-d824-4172-807b-1025465945bd",
    "NodeType": "transcode",
    "Payload": {},
    "Region": "us-central",
    "Version": 1
  },
  {
    "DT": "2025-11-05T15:21:03Z",
    "EventType": "worker-connected",
    "ID": "e2be549c-1b71-4148-a778-36862ca17d9b",
    "NodeType": "transcode",
    "Payload": { "connection": "203.0.113.17:52344", "ethAddress": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" },
    "Region": "us-central",
    "Version": 1
  },
  {
    "DT": "2025-11-05T15:21:31Z",
    "EventType": "job-processed",
    "ID": "dc186dc7-24a4-492a-b462-e477ee1786fd",
    "NodeType": "transcode",
    "Payload": {
      "computeUnits": 75254400,
      "duration": 2000,
      "ethAddress": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
      "fees": 90305280000,
      "pricePerComputeUnit": 1200,
      "realTimeRatio": 2,
      "responseTime": 812
    },
    "Region": "us-central",
    "Version": 1
  }
]"""

ORCHESTRATOR_RESETS = (
    '{"DT":"2025-11-05T15:20:58Z","EventType":"orchestrator-reset","ID":"52eab22a-d824-4172-807b-1025465945bd","NodeType":"transcode","Payload":{},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-06T03:02:11Z","EventType":"orchestrator-reset","ID":"eff8b031-3b78-4a7a-9440-f358cbe8948c","NodeType":"ai","Payload":{},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-06T09:45:00Z","EventType":"orchestrator-reset","ID":"58d42358-ad8b-4438-a282-e4ecd06fb000","NodeType":"transcode","Payload":{},"Region":"eu-central","Version":1}',
)

WORKER_CONNECTIONS = (
    '{"DT":"2025-11-05T15:21:03Z","EventType":"worker-connected","ID":"e2be549c-1b71-4148-a778-36862ca17d9b","NodeType":"transcode","Payload":{"connection":"203.0.113.17:52344","ethAddress":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T16:02:47Z","EventType":"worker-connected","ID":"62031954-2288-4def-9613-4c0a04422f64","NodeType":"ai","Payload":{"connection":"198.51.100.42:40112","ethAddress":"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T17:40:09Z","EventType":"worker-disconnected","ID":"35a93309-7c06-472d-a8bd-daf8d7da29e2","NodeType":"transcode","Payload":{"connection":"203.0.113.17:52344","ethAddress":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},"Region":"us-central","Version":1}',
)

JOBS_RECEIVED = (
    '{"DT":"2025-11-05T16:05:12Z","EventType":"job-received","ID":"6feb571a-9db2-486a-a134-5ec41bc77995","NodeType":"ai","Payload":{"ethAddress":"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359","modelID":"ByteDance/SDXL-Lightning","pipeline":"text-to-image","requestID":"3f9a0c1e"},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T16:05:40Z","EventType":"job-received","ID":"ad600493-65c6-4441-a4f6-bfb023e7e145","NodeType":"ai","Payload":{"ethAddress":"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB","modelID":"meta-llama/Meta-Llama-3.1-8B-Instruct","pipeline":"llm","requestID":"a17c03d9"},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T16:06:02Z","EventType":"job-received","ID":"f53c6ef0-eed5-46ce-8a1a-ef899ccfa932","NodeType":"ai","Payload":{"ethAddress":"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359","modelID":"openai/whisper-large-v3","pipeline":"audio-to-text","requestID":"07be44d2"},"Region":"us-central","Version":1}',
)

AI_JOBS_PROCESSED = (
    '{"DT":"2025-11-05T16:05:12Z","EventType":"job-processed","ID":"8d0489c6-2743-45c7-9b45-25d04c72338e","NodeType":"ai","Payload":{"computeUnits":1048576,"fees":4999999389696,"modelID":"ByteDance/SDXL-Lightning","pipeline":"text-to-image","pricePerComputeUnit":4768371,"requestID":"3f9a0c1e","responseTime":2841377112},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T16:05:41Z","EventType":"job-processed","ID":"84026667-e02f-4572-bc5f-670d8dc9a5d0","NodeType":"ai","Payload":{"computeUnits":256,"fees":7873894400,"modelID":"meta-llama/Meta-Llama-3.1-8B-Instruct","pipeline":"llm","pricePerComputeUnit":30757400,"requestID":"a17c03d9","responseTime":913245871},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T16:07:30Z","EventType":"job-processed","ID":"838b6a03-3bd9-434d-b09c-32daab5bcd79","NodeType":"ai","Payload":{"computeUnits":14745600,"fees":0,"modelID":"stabilityai/stable-video-diffusion-img2vid-xt-1-1","pipeline":"image-to-video","pricePerComputeUnit":0,"requestID":"c4e2917b","responseTime":48211934002},"Region":"us-central","Version":1}',
)

TRANSCODE_JOBS_PROCESSED = (
    '{"DT":"2025-11-05T15:21:31Z","EventType":"job-processed","ID":"dc186dc7-24a4-492a-b462-e477ee1786fd","NodeType":"transcode","Payload":{"computeUnits":75254400,"duration":2000,"ethAddress":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","fees":90305280000,"pricePerComputeUnit":1200,"realTimeRatio":2,"responseTime":812},"Region":"us-central","Version":1}',
    '{"DT":"2025-11-05T15:21:33Z","EventType":"job-processed","ID":"40df6cae-97ac-4dfd-bf24-fa491042affa","NodeType":"transcode","Payload":{"computeUnits":79891200,"duration":2002,"ethAddress":"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB","fees":75896640000,"pricePerComputeUnit":950,"realTimeRatio":1,"responseTime":1450},"Region":"eu-central","Version":1}',
    '{"DT":"2025-11-05T15:21:35Z","EventType":"job-processed","ID":"9b2f6a0e-5c1d-4e8a-9f3b-2d7c6a1e4b90","NodeType":"transcode","Payload":{"computeUnits":13824000,"duration":2000,"ethAddress":"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb","fees":16588800000,"pricePerComputeUnit":1200,"realTimeRatio":0,"responseTime":0},"Region":"us-central","Version":1}',
)

ALL_EXAMPLES = ORCHESTRATOR_RESETS + WORKER_CONNECTIONS + JOBS_RECEIVED + AI_JOBS_PROCESSED + TRANSCODE_JOBS_PROCESSED
