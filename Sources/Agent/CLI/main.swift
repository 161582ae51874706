print("seer-agent")
