from prefdata.schemas import write_all

for p in write_all():
    print(p)
