print("seer-coordinator")
