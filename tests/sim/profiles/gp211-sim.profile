# A GlobalPlatform 2.1.1 SIM of the public traces (operator SIM, SCP02 i=15): its ISD AID has
# 7 bytes, it answers GET STATUS P1=80 and P1=40 in the tag format, but lists its load files
# only in the legacy format of P1=20 (P1=10 both ways and P1=20 P2=02 answer 6A86), in short
# 6310 pages. The keys are the GlobalPlatform test keys (the simulator's default).
i = 15
isd = A0000001510000 0F 9E
elf = F000000001 01 00 F00000000101
elf = F000000002 01 00
app = F00000000101 07 00 F000000001
status_refuse = 10:02=6A86 10:00=6A86 20:02=6A86
max_response = 40
